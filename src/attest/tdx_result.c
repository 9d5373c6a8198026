/* The TDX attestation result (EAR submod "tdx") and the one-call verifier:
 * authenticity and TCB (veil_tdx_verify), event-log replay, appraisal, EAR.
 * Mirrors snp_result.c. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/tdx.h"

#define MAX_CLAIMED_EVENTS 256 /* event entries copied into the claims */

static int set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    veil_hex_encode(p, n, hex);
    return json_object_set_new(o, key, json_string(hex));
}

static json_t *hex_array(const uint8_t (*vals)[48], size_t n)
{
    json_t *a = json_array();
    char hex[2 * 48 + 1];
    for (size_t i = 0; a && i < n; i++) {
        veil_hex_encode(vals[i], 48, hex);
        if (json_array_append_new(a, json_string(hex))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *qe_claims(const veil_tdx_quote *q)
{
    json_t *o =
        json_pack("{s:i,s:i}", "isvprodid", q->qe_report.isvprodid, "isvsvn", q->qe_report.isvsvn);
    if (o && (set_hex(o, "mrenclave", q->qe_report.mrenclave, 32) ||
              set_hex(o, "mrsigner", q->qe_report.mrsigner, 32))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *pck_claims(const veil_tdx_pck *k)
{
    json_t *o =
        json_pack("{s:i,s:i,s:s}", "pcesvn", k->pcesvn, "sgx_type", k->sgx_type, "ca", k->ca);
    if (o && (set_hex(o, "fmspc", k->fmspc, 6) || set_hex(o, "pceid", k->pceid, 2) ||
              set_hex(o, "cpusvn", k->cpusvn, 16))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *tcb_claims(const veil_tdx_tcb *t)
{
    json_t *adv = json_array();
    for (size_t i = 0; adv && i < t->n_advisories; i++)
        if (json_array_append_new(adv, json_string(t->advisories[i]))) {
            json_decref(adv);
            adv = NULL;
        }
    if (!adv)
        return NULL;
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:o}", "status", veil_tdx_tcb_status_name(t->status),
        "platform", veil_tdx_tcb_status_name(t->platform), "module",
        veil_tdx_tcb_status_name(t->module), "module_id", t->module_id, "qe",
        veil_tdx_tcb_status_name(t->qe), "tcb_date", t->tcb_date, "tcb_evaluation_data_number",
        (int)t->tcb_evaluation_data_number, "advisories", adv);
}

static json_t *log_claims(const veil_tdx_eventlog *log)
{
    json_t *entries = json_array(), *o;
    char hex[2 * 48 + 1];
    for (size_t i = 0; entries && i < log->n_events && i < MAX_CLAIMED_EVENTS; i++) {
        const veil_tdx_event *e = &log->events[i];
        veil_hex_encode(e->digest, 48, hex);
        json_t *ev = json_pack("{s:i,s:I,s:s}", "mr_index", (int)e->mr_index, "type",
                               (json_int_t)e->type, "digest", hex);
        if (ev && e->rtmr != VEIL_TDX_NO_RTMR)
            json_object_set_new(ev, "rtmr", json_integer(e->rtmr));
        if (ev && e->name)
            json_object_set_new(ev, "name", json_string(e->name));
        if (!ev || json_array_append_new(entries, ev)) {
            json_decref(entries);
            entries = NULL;
        }
    }
    json_t *rtmrs = hex_array(log->rtmr, 4);
    if (!entries || !rtmrs) {
        json_decref(entries);
        json_decref(rtmrs);
        return NULL;
    }
    o = json_pack("{s:s,s:I,s:o,s:o}", "format",
                  log->format == VEIL_TDX_EVENTLOG_CCEL ? "ccel" : "json", "events",
                  (json_int_t)log->n_events, "replayed_rtmrs", rtmrs, "entries", entries);
    return o;
}

static json_t *claims_json(const veil_tdx_quote *q, const veil_tdx_eventlog *log)
{
    const veil_tdx_td_report *b = &q->body;
    uint64_t a = veil_tdx_td_attributes(q);
    json_t *c = json_pack("{s:s,s:i,s:i,s:b,s:b,s:s,s:o,s:o,s:o}", "tee", "tdx", "quote_version",
                          q->header.version, "body_type", q->body_type, "debug",
                          (a & VEIL_TDX_ATTR_DEBUG) != 0, "sept_ve_disable",
                          (a & VEIL_TDX_ATTR_SEPT_VE_DISABLE) != 0, "tcb_status",
                          veil_tdx_tcb_status_name(q->tcb.status), "rtmrs", hex_array(b->rtmr, 4),
                          "qe", qe_claims(q), "advisories", json_array());
    if (!c)
        return NULL;
    int bad = set_hex(c, "tee_tcb_svn", b->tee_tcb_svn, 16) |
              set_hex(c, "mr_seam", b->mr_seam, 48) |
              set_hex(c, "mr_signer_seam", b->mr_signer_seam, 48) |
              set_hex(c, "seam_attributes", b->seam_attributes, 8) |
              set_hex(c, "td_attributes", b->td_attributes, 8) | set_hex(c, "xfam", b->xfam, 8) |
              set_hex(c, "mrtd", b->mr_td, 48) | set_hex(c, "mrconfigid", b->mr_config_id, 48) |
              set_hex(c, "mrowner", b->mr_owner, 48) |
              set_hex(c, "mrownerconfig", b->mr_owner_config, 48) |
              set_hex(c, "report_data", b->report_data, 64);
    if (q->body_type == VEIL_TDX_BODY_TYPE_TD15)
        bad |= set_hex(c, "tee_tcb_svn2", b->tee_tcb_svn2, 16) |
               set_hex(c, "mr_servicetd", b->mr_servicetd, 48);
    json_t *adv = json_object_get(c, "advisories");
    for (size_t i = 0; i < q->tcb.n_advisories; i++)
        bad |= json_array_append_new(adv, json_string(q->tcb.advisories[i]));
    if (q->pck.present)
        bad |= json_object_set_new(c, "pck", pck_claims(&q->pck));
    if (q->tcb.evaluated)
        bad |= json_object_set_new(c, "tcb", tcb_claims(&q->tcb));
    if (log)
        bad |= json_object_set_new(c, "event_log", log_claims(log));
    if (bad) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* AR4SI tiers: 2 affirming, 32/33 warning, 96 contraindicated. */
static void fill_vector(const veil_tdx_quote *q, const veil_tdx_policy *p, const veil_verdict *v,
                        veil_ear *ear)
{
    veil_check f = v->failed;
    bool authentic = f != VEIL_CHECK_FORMAT && f != VEIL_CHECK_CHAIN && f != VEIL_CHECK_QE &&
                     f != VEIL_CHECK_SIGNATURE && f != VEIL_CHECK_UNCHECKED && q != NULL;
    veil_ear_vector *tv = &ear->tv;
    tv->instance_identity = !authentic || f == VEIL_CHECK_REPORT_DATA ? 96 : 2;
    if (!authentic || f == VEIL_CHECK_TCB || f == VEIL_CHECK_COLLATERAL)
        tv->hardware = 96;
    else /* genuine TDX; a TCB that is not UpToDate, or unknown, is a warning */
        tv->hardware = q->tcb.evaluated && q->tcb.status == VEIL_TDX_TCB_UP_TO_DATE ? 2 : 32;
    tv->executables = f == VEIL_CHECK_MRTD || f == VEIL_CHECK_RTMR ? 96 : p && p->n_mrtd ? 2 : 33;
    tv->configuration = f == VEIL_CHECK_DEBUG || f == VEIL_CHECK_TD_ATTRIBUTES ||
                                f == VEIL_CHECK_POLICY || f == VEIL_CHECK_MRCONFIGID ||
                                f == VEIL_CHECK_MROWNER
                            ? 96
                            : 2;
    tv->runtime_opaque = authentic ? 2 : 96;
    ear->status = veil_verdict_accepted(v) ? veil_ear_vector_status(tv) : VEIL_EAR_CONTRAINDICATED;
}

veil_result veil_tdx_result(const veil_tdx_quote *q, const veil_tdx_eventlog *log,
                            const veil_tdx_policy *p, const veil_verdict *v, veil_ear *ear)
{
    VEIL_ENSURE(v != NULL && ear != NULL, VEIL_E_USAGE, "tdx result: NULL argument");
    memset(ear, 0, sizeof *ear);
    snprintf(ear->submod, sizeof ear->submod, "tdx");
    snprintf(ear->policy_id, sizeof ear->policy_id, "%s", p ? p->id : "default");
    ear->simulated = v->simulated;
    if (!veil_verdict_accepted(v))
        snprintf(ear->failed_check, sizeof ear->failed_check, "%s", veil_check_name(v->failed));
    fill_vector(q, p, v, ear);
    if (!q)
        return VEIL_OK;
    json_t *c = claims_json(q, log);
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "tdx result: cannot build the claims");
    ear->claims_json = veil_json_dump(c);
    json_decref(c);
    VEIL_ENSURE(ear->claims_json != NULL, VEIL_E_NOMEM, "tdx result: cannot serialise the claims");
    return VEIL_OK;
}

veil_result veil_tdx_verify_files(const uint8_t *quote, size_t n, const uint8_t *collateral_json,
                                  size_t cn, const uint8_t *event_log, size_t en,
                                  const char *policy_json, size_t pn, int64_t at, veil_verdict *v,
                                  veil_ear *ear_out)
{
    veil_result res = VEIL_OK;
    veil_tdx_policy *pol = NULL;
    veil_tdx_quote *q = NULL;
    veil_tdx_eventlog log;
    bool have_log = false;
    memset(&log, 0, sizeof log);
    VEIL_ENSURE(v != NULL, VEIL_E_USAGE, "tdx verify: NULL verdict");
    VEIL_ENSURE((event_log || !en) && (policy_json || !pn), VEIL_E_USAGE,
                "tdx verify: NULL input with a length");
    veil_verdict_init(v);
    if (ear_out)
        memset(ear_out, 0, sizeof *ear_out);
    pol = veil_calloc(1, sizeof *pol);
    q = veil_calloc(1, sizeof *q);
    VEIL_ENSURE_GOTO(res, pol && q, VEIL_E_NOMEM, "tdx verify: out of memory");
    if (pn > 0)
        VEIL_TRY(res, veil_tdx_policy_parse(policy_json, pn, pol));
    else
        veil_tdx_policy_default(pol);
    veil_tdx_trust trust = {at ? at : pol->verification_time};
    VEIL_TRY(res, veil_tdx_verify(quote, n, collateral_json, cn, &trust, q, v));
    bool have_quote = q->raw != NULL; /* FORMAT passed */
    if (en > 0) {
        veil_result lr = veil_tdx_eventlog_parse(event_log, en, &log);
        if (lr.cls == VEIL_E_PROTOCOL)
            veil_verdict_record(v, VEIL_CHECK_RTMR, false, "%s", lr.msg);
        else
            VEIL_TRY(res, lr);
        have_log = veil_ok(lr);
    }
    if (have_quote)
        veil_tdx_appraise(q, have_log ? &log : NULL, pol, v);
    veil_verdict_finish(v);
    if (ear_out)
        VEIL_TRY(res,
                 veil_tdx_result(have_quote ? q : NULL, have_log ? &log : NULL, pol, v, ear_out));
out:
    veil_tdx_eventlog_free(&log);
    veil_free(q);
    veil_free(pol);
    return res;
}
