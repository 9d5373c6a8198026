/* Offline audit bundles (docs/client.md): what a client verified and sent,
 * kept so that anyone can re-check it later without the gateway.
 *
 *   { "version": 1, "type": "veil-audit",
 *     "gateway_url", "relay_url" (or null), "verified_at" (unix seconds),
 *     "nonce": hex (32 bytes),
 *     "ohttp_keys": base64 (the exact application/ohttp-keys bytes), "ohttp_keys_sha256": hex,
 *     "key_id", "suite",
 *     "evidence": base64 (the exact attestation document), "evidence_sha256": hex,
 *     "policy": "<the policy text>", "policy_id",
 *     "verdict": {"accepted", "status", "simulated", "measurement", "failed_check"?, "checks"},
 *     "ear_claims": {...} (the appraised claims) or null,
 *     "exchange": {"request_sha256", "response_sha256", "bytes_sent", "bytes_received"} or null,
 *     "kms": {"url", "key", "ledger_key": PEM, "document": {...}} (only when the
 *            KMS's receipts were checked too: flow 2a) }
 *
 * Verification recomputes everything from the recorded bytes: the digests,
 * REPORT_DATA from the nonce and keys, the evidence against the policy at
 * the recorded time (or the one given), and compares with the record; with
 * "kms", every receipt of the recorded configuration document again (against
 * the recorded ledger key, whose log id the report shows for the user to
 * compare with the one they pin), the KMS's reference values against the
 * recorded policy, and that the key used is a receipted one. Tree-head
 * consistency needs the network and is not re-checked. */
#include <jansson.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/json_util.h"
#include "crypto/digest.h"
#include "veil/base64.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/mem.h"

#define AUDIT_VERSION 1
#define AUDIT_TYPE "veil-audit"
#define AUDIT_MAX ((size_t)8 << 20)

static json_t *b64(const uint8_t *p, size_t n)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    json_t *s =
        veil_ok(veil_base64_encode(p, n, &b)) ? json_stringn((const char *)b.data, b.len) : NULL;
    veil_buf_free(&b);
    return s;
}

static json_t *hexstr(const uint8_t *p, size_t n)
{
    char h[2 * 64 + 1];
    if (n > 64)
        return NULL;
    veil_hex_encode(p, n, h);
    return json_string(h);
}

static json_t *verdict_json(const veil_client_report *rep)
{
    json_t *checks = json_array();
    for (size_t i = 0; checks && i < rep->n_checks; i++)
        json_array_append_new(checks,
                              json_pack("{s:s,s:b,s:s}", "check", rep->checks[i].name, "passed",
                                        rep->checks[i].passed, "detail", rep->checks[i].detail));
    json_t *v =
        json_pack("{s:b,s:s,s:b,s:s,s:o*}", "accepted", rep->accepted, "status", rep->status,
                  "simulated", rep->simulated, "measurement", rep->measurement, "checks", checks);
    if (v && !rep->accepted)
        json_object_set_new(v, "failed_check", json_string(rep->failed_check));
    return v;
}

/* "kms": what flow 2a checked, so the receipts can be checked again. */
static json_t *kms_json(const veil_client *c)
{
    veil_buf pem;
    json_t *doc = NULL, *k = NULL;
    if (!c->kms_doc.len)
        return NULL;
    veil_buf_init(&pem, 0);
    doc = json_loadb((const char *)c->kms_doc.data, c->kms_doc.len, 0, NULL);
    if (doc && veil_ok(veil_sign_key_public_pem(c->log_key, &pem)))
        k = json_pack("{s:s,s:s,s:s%,s:O}", "url", c->kms_url, "key", c->kms_key, "ledger_key",
                      (const char *)pem.data, pem.len, "document", doc);
    json_decref(doc);
    veil_buf_free(&pem);
    return k;
}

veil_result veil_client_audit_bundle(const veil_client *c, const veil_client_report *rep,
                                     veil_buf *out)
{
    veil_result r = VEIL_OK;
    veil_client_audit a;
    json_t *doc = NULL, *claims = NULL, *exch = NULL;
    char *text = NULL;
    uint8_t keys_sha[32], ev_sha[32];
    VEIL_ENSURE(c && rep && out, VEIL_E_USAGE, "audit: missing argument");
    VEIL_GUARD(veil_client_audit_get(c, &a));
    VEIL_ENSURE(a.evidence_len > 0, VEIL_E_USAGE,
                "audit: bundles record the gateway's attestation; verify the gateway too "
                "(--gateway) to keep one");
    VEIL_GUARD(veil_sha256(a.keys, a.keys_len, keys_sha));
    VEIL_GUARD(veil_sha256(a.evidence, a.evidence_len, ev_sha));
    claims = a.ear_claims ? json_loads(a.ear_claims, 0, NULL) : NULL;
    if (a.have_exchange)
        exch = json_pack("{s:o,s:o,s:I,s:I}", "request_sha256", hexstr(a.request_sha256, 32),
                         "response_sha256", hexstr(a.response_sha256, 32), "bytes_sent",
                         (json_int_t)a.bytes_sent, "bytes_received", (json_int_t)a.bytes_received);
    doc = json_pack(
        "{s:i,s:s,s:s,s:s*,s:I,s:o,s:o,s:o,s:i,s:s,s:o,s:o,s:s%,s:s,s:o,s:o*,s:o*}", "version",
        AUDIT_VERSION, "type", AUDIT_TYPE, "gateway_url", a.gateway_url, "relay_url", a.relay_url,
        "verified_at", (json_int_t)rep->verified_at, "nonce", hexstr(a.nonce, a.nonce_len),
        "ohttp_keys", b64(a.keys, a.keys_len), "ohttp_keys_sha256", hexstr(keys_sha, 32), "key_id",
        (int)rep->key_id, "suite", rep->suite, "evidence", b64(a.evidence, a.evidence_len),
        "evidence_sha256", hexstr(ev_sha, 32), "policy", a.policy, a.policy_len, "policy_id",
        rep->policy_id, "verdict", verdict_json(rep), "ear_claims", claims, "exchange", exch);
    claims = exch = NULL; /* stolen by json_pack ("o"), even on failure */
    VEIL_ENSURE_GOTO(r, doc, VEIL_E_NOMEM, "audit: cannot build the bundle");
    if (c->kms_doc.len) {
        json_t *k = kms_json(c);
        VEIL_ENSURE_GOTO(r, k && json_object_set_new(doc, "kms", k) == 0, VEIL_E_NOMEM,
                         "audit: cannot record the KMS receipts");
    }
    text = veil_json_dump(doc);
    VEIL_ENSURE_GOTO(r, text, VEIL_E_NOMEM, "audit: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(text);
    json_decref(doc);
    return r;
}

/* A base64 member decoded into out. */
static veil_result get_b64(json_t *doc, const char *name, veil_buf *out)
{
    const char *s = json_string_value(json_object_get(doc, name));
    VEIL_ENSURE(s, VEIL_E_PROTOCOL, "audit: a member is missing or not a string");
    VEIL_ENSURE(veil_ok(veil_base64_decode(s, strlen(s), out)), VEIL_E_PROTOCOL,
                "audit: a base64 member is malformed");
    return VEIL_OK;
}

/* A hex digest member equals SHA-256(p). */
static veil_result check_sha(json_t *doc, const char *name, const uint8_t *p, size_t n,
                             const char *msg)
{
    uint8_t d[32];
    char h[65];
    const char *s = json_string_value(json_object_get(doc, name));
    VEIL_GUARD(veil_sha256(p, n, d));
    veil_hex_encode(d, 32, h);
    VEIL_ENSURE(s && veil_public_equal(s, strlen(s), h, 64), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

/* The recorded KMS part: receipts again, and the key used among them. */
static veil_result verify_kms(const json_t *kms, const veil_snp_policy *policy,
                              const veil_ohttp_keyconfig *cfgs, size_t n_cfgs, uint8_t key_id,
                              veil_client_report *rep)
{
    veil_result r = VEIL_OK;
    veil_sign_key *log_key = NULL;
    veil_buf keys;
    veil_ohttp_keyconfig got[CLIENT_MAX_CONFIGS];
    size_t n_got = 0, skipped = 0;
    char *doc = NULL;
    const char *pem = json_string_value(json_object_get(kms, "ledger_key"));
    const char *name = json_string_value(json_object_get(kms, "key"));
    veil_buf_init(&keys, 0);
    VEIL_ENSURE_GOTO(r, pem && name && json_is_object(json_object_get(kms, "document")),
                     VEIL_E_PROTOCOL, "audit: kms: a member is missing");
    VEIL_TRY(r, veil_sign_key_from_pem((const uint8_t *)pem, strlen(pem), &log_key));
    doc = veil_json_dump(json_object_get(kms, "document"));
    VEIL_ENSURE_GOTO(r, doc, VEIL_E_NOMEM, "audit: out of memory");
    VEIL_TRY(r, client_kms_check_offline(log_key, policy, name, (const uint8_t *)doc, strlen(doc),
                                         &keys, rep));
    VEIL_TRY(
        r, veil_ohttp_keys_decode(keys.data, keys.len, got, CLIENT_MAX_CONFIGS, &n_got, &skipped));
    bool found = false;
    for (size_t i = 0; i < n_cfgs; i++)
        for (size_t j = 0; cfgs[i].key_id == key_id && j < n_got && !found; j++)
            found = veil_ohttp_keyconfig_equal(&cfgs[i], &got[j]);
    VEIL_ENSURE_GOTO(r, found, VEIL_E_PROTOCOL,
                     "audit: receipt: the key used is not a configuration the KMS receipted");
out:
    veil_free(doc);
    veil_buf_free(&keys);
    veil_sign_key_free(log_key);
    return r;
}

veil_result veil_client_audit_verify(const uint8_t *bundle, size_t len, int64_t at,
                                     veil_client_report *report)
{
    veil_result r = VEIL_OK;
    veil_client_report local;
    veil_client_report *rep = report ? report : &local;
    json_t *doc = NULL, *verdict;
    veil_buf keys, ev_bytes, nonce;
    veil_evidence ev;
    veil_verification vr;
    veil_snp_policy *p = NULL;
    veil_ohttp_keyconfig *cfgs = NULL;
    size_t n_cfgs = 0, skipped = 0;
    uint8_t keys_sha[32], expected[64];
    const char *policy, *nonce_hex;
    json_int_t verified_at, key_id;

    memset(rep, 0, sizeof *rep);
    memset(&vr, 0, sizeof vr);
    veil_evidence_init(&ev);
    veil_buf_init(&keys, 0);
    veil_buf_init(&ev_bytes, 0);
    veil_buf_init(&nonce, 64);
    VEIL_ENSURE_GOTO(r, bundle && len <= AUDIT_MAX, VEIL_E_USAGE, "audit: missing or too large");
    doc = json_loadb((const char *)bundle, len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(r, json_is_object(doc), VEIL_E_PROTOCOL, "audit: not a JSON object");
    VEIL_ENSURE_GOTO(r,
                     json_integer_value(json_object_get(doc, "version")) == AUDIT_VERSION &&
                         json_is_string(json_object_get(doc, "type")) &&
                         !strcmp(json_string_value(json_object_get(doc, "type")), AUDIT_TYPE),
                     VEIL_E_PROTOCOL, "audit: not a veil audit bundle of version 1");
    verified_at = json_integer_value(json_object_get(doc, "verified_at"));
    key_id = json_integer_value(json_object_get(doc, "key_id"));
    policy = json_string_value(json_object_get(doc, "policy"));
    nonce_hex = json_string_value(json_object_get(doc, "nonce"));
    verdict = json_object_get(doc, "verdict");
    VEIL_ENSURE_GOTO(r, policy && nonce_hex && json_is_object(verdict) && verified_at > 0,
                     VEIL_E_PROTOCOL, "audit: a required member is missing");

    /* The recorded bytes are the ones the digests name. */
    VEIL_TRY(r, get_b64(doc, "ohttp_keys", &keys));
    VEIL_TRY(r, check_sha(doc, "ohttp_keys_sha256", keys.data, keys.len,
                          "audit: keys: the key list does not match its recorded digest"));
    VEIL_TRY(r, get_b64(doc, "evidence", &ev_bytes));
    VEIL_TRY(r, check_sha(doc, "evidence_sha256", ev_bytes.data, ev_bytes.len,
                          "audit: evidence: the evidence does not match its recorded digest"));
    VEIL_ENSURE_GOTO(r,
                     veil_ok(veil_hex_decode(nonce_hex, strlen(nonce_hex), &nonce)) &&
                         nonce.len == CLIENT_NONCE_LEN,
                     VEIL_E_PROTOCOL, "audit: the nonce is malformed");
    cfgs = veil_calloc(CLIENT_MAX_CONFIGS, sizeof *cfgs);
    VEIL_ENSURE_GOTO(r, cfgs, VEIL_E_NOMEM, "audit: out of memory");
    r = veil_ohttp_keys_decode(keys.data, keys.len, cfgs, CLIENT_MAX_CONFIGS, &n_cfgs, &skipped);
    VEIL_ENSURE_GOTO(r, veil_ok(r) && n_cfgs > 0, VEIL_E_PROTOCOL,
                     "audit: keys: the recorded key list is malformed");
    bool found = false;
    for (size_t i = 0; i < n_cfgs; i++)
        found |= cfgs[i].key_id == key_id;
    VEIL_ENSURE_GOTO(r, found, VEIL_E_PROTOCOL,
                     "audit: keys: the recorded key id is not in the attested key list");

    /* Re-run the verification as the client did. */
    p = veil_calloc(1, sizeof *p);
    VEIL_ENSURE_GOTO(r, p, VEIL_E_NOMEM, "audit: out of memory");
    VEIL_TRY(r, veil_snp_policy_parse(policy, strlen(policy), p));
    snprintf(rep->policy_id, sizeof rep->policy_id, "%s", p->id);
    VEIL_ENSURE_GOTO(r, p->n_measurements > 0, VEIL_E_PROTOCOL,
                     "audit: measurement: the recorded policy accepts any measurement");
    VEIL_TRY(r, veil_sha256(keys.data, keys.len, keys_sha));
    VEIL_TRY(r, veil_gateway_report_data(nonce.data, nonce.len, keys_sha, expected));
    p->have_report_data = true;
    memcpy(p->report_data, expected, 64);
    VEIL_TRY(r, veil_evidence_parse(ev_bytes.data, ev_bytes.len, &ev));
    rep->verified_at = at ? at : (int64_t)verified_at;
    VEIL_TRY(r, veil_verify_evidence(&ev, p, rep->verified_at, &vr));
    client_fill_report(rep, &vr);
    snprintf(rep->tee, sizeof rep->tee, "%s", ev.tee);
    veil_hex_encode(keys_sha, 32, rep->keys_sha256);
    veil_hex_encode(nonce.data, nonce.len, rep->nonce);
    rep->key_id = (unsigned)key_id;
    const char *suite = json_string_value(json_object_get(doc, "suite"));
    const char *evs = json_string_value(json_object_get(doc, "evidence_sha256"));
    snprintf(rep->suite, sizeof rep->suite, "%s", suite ? suite : "");
    snprintf(rep->evidence_sha256, sizeof rep->evidence_sha256, "%s", evs ? evs : "");
    rep->accepted = veil_verdict_accepted(&vr.verdict);
    if (!rep->accepted) {
        r = client_refusal(vr.verdict.failed);
        goto out;
    }
    /* The record must say what the evidence says. */
    const char *m = json_string_value(json_object_get(verdict, "measurement"));
    VEIL_ENSURE_GOTO(r, json_is_true(json_object_get(verdict, "accepted")), VEIL_E_PROTOCOL,
                     "audit: verdict: the bundle records a refusal, the evidence verifies");
    VEIL_ENSURE_GOTO(r, m && veil_public_equal(m, strlen(m), rep->measurement, 96), VEIL_E_PROTOCOL,
                     "audit: measurement: the recorded measurement is not the evidence's");
    if (json_object_get(doc, "kms"))
        VEIL_TRY(r, verify_kms(json_object_get(doc, "kms"), p, cfgs, n_cfgs, (uint8_t)key_id, rep));
out:
    if (!veil_ok(r)) {
        rep->accepted = false;
        if (!rep->failed_check[0])
            snprintf(rep->failed_check, sizeof rep->failed_check, "%s", "audit");
        if (!rep->reason[0])
            snprintf(rep->reason, sizeof rep->reason, "%s", r.msg ? r.msg : "failed");
    }
    json_decref(doc);
    veil_verification_free(&vr);
    veil_evidence_free(&ev);
    veil_buf_free(&keys);
    veil_buf_free(&ev_bytes);
    veil_buf_free(&nonce);
    veil_free_wiped(p, p ? sizeof *p : 0);
    veil_free(cfgs);
    return r;
}
