/* Appraisal of authentic TDX quotes against a policy's reference values.
 * Each constrained value is one named check; the verdict stays at reject
 * until all of them (and the authenticity checks before them) pass. */
#include <stdio.h>
#include <string.h>

#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/tdx.h"

static bool in_list(const uint8_t *val, const uint8_t (*list)[48], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (veil_public_equal(val, 48, list[i], 48))
            return true;
    return false;
}

/* The first 16 hex digits, for messages. */
static void short_hex(const uint8_t *p, size_t n, char out[20])
{
    char full[2 * 64 + 1];
    veil_hex_encode(p, n, full);
    snprintf(out, 20, "%.16s", full);
}

static void appraise_list(veil_verdict *v, veil_check c, const char *what, const uint8_t *val,
                          const uint8_t (*list)[48], size_t n, bool required)
{
    char hex[2 * 48 + 1];
    if (n == 0 && !required)
        return;
    veil_hex_encode(val, 48, hex);
    if (n == 0) {
        veil_verdict_record(v, c, true, "%s %s (the policy has no allow-list: any accepted)", what,
                            hex);
        return;
    }
    bool ok = in_list(val, list, n);
    veil_verdict_record(v, c, ok, "%s %s %s the %zu accepted value(s)", what, hex,
                        ok ? "is one of" : "is not one of", n);
}

/* Pinned values, then the event-log replay, then the named events. */
static void appraise_rtmrs(const veil_tdx_quote *q, const veil_tdx_eventlog *log,
                           const veil_tdx_policy *p, veil_verdict *v)
{
    bool pinned = p->have_rtmr[0] || p->have_rtmr[1] || p->have_rtmr[2] || p->have_rtmr[3];
    char have[20], want[20];
    if (!pinned && !p->replay && !p->n_event_digests && !log)
        return;
    for (int i = 0; i < 4; i++)
        if (p->have_rtmr[i] && !veil_public_equal(q->body.rtmr[i], 48, p->rtmr[i], 48)) {
            short_hex(q->body.rtmr[i], 48, have);
            short_hex(p->rtmr[i], 48, want);
            veil_verdict_record(v, VEIL_CHECK_RTMR, false,
                                "RTMR%d %s... differs from the policy's %s...", i, have, want);
            return;
        }
    if (!log && (p->replay || p->n_event_digests)) {
        veil_verdict_record(v, VEIL_CHECK_RTMR, false,
                            "the policy requires an event log that reproduces the RTMRs, but none "
                            "was given");
        return;
    }
    if (log) {
        for (int i = 0; i < 4; i++)
            if (!veil_public_equal(log->rtmr[i], 48, q->body.rtmr[i], 48)) {
                short_hex(log->rtmr[i], 48, have);
                short_hex(q->body.rtmr[i], 48, want);
                veil_verdict_record(v, VEIL_CHECK_RTMR, false,
                                    "the event log (%zu events) replays RTMR%d to %s..., the "
                                    "quote has %s... (log altered or incomplete)",
                                    log->n_events, i, have, want);
                return;
            }
    }
    for (size_t k = 0; k < p->n_event_digests; k++) {
        bool found = false;
        for (size_t i = 0; i < log->n_events && !found; i++)
            found = log->events[i].rtmr != VEIL_TDX_NO_RTMR &&
                    veil_public_equal(log->events[i].digest, 48, p->event_digests[k], 48);
        if (!found) {
            short_hex(p->event_digests[k], 48, want);
            veil_verdict_record(v, VEIL_CHECK_RTMR, false,
                                "the policy's event %s... is not among the %zu measured events",
                                want, log->n_events);
            return;
        }
    }
    veil_verdict_record(v, VEIL_CHECK_RTMR, true, "RTMR0..3 %s%s%s%s",
                        pinned ? "match the policy's values" : "", pinned && log ? " and " : "",
                        log ? (log->format == VEIL_TDX_EVENTLOG_CCEL
                                   ? "are reproduced by the CCEL event log"
                                   : "are reproduced by the JSON event log")
                            : "",
                        p->n_event_digests ? ", which holds every event the policy names" : "");
}

static void appraise_attributes(const veil_tdx_quote *q, const veil_tdx_policy *p, veil_verdict *v)
{
    uint64_t a = veil_tdx_td_attributes(q);
    bool debug = (a & VEIL_TDX_ATTR_DEBUG) != 0;
    veil_verdict_record(v, VEIL_CHECK_DEBUG, !debug || p->allow_debug,
                        "TDATTRIBUTES 0x%016llx: DEBUG %s%s", (unsigned long long)a,
                        debug ? "set (the host can read and change the TD)" : "clear",
                        debug && !p->allow_debug ? "; the policy forbids debuggable TDs" : "");
    uint64_t reserved = a & VEIL_TDX_ATTR_RESERVED_MASK;
    bool sept = (a & VEIL_TDX_ATTR_SEPT_VE_DISABLE) != 0;
    bool ok = !reserved && (sept || !p->require_sept_ve_disable);
    veil_verdict_record(v, VEIL_CHECK_TD_ATTRIBUTES, ok,
                        "TDATTRIBUTES 0x%016llx: reserved bits %s (0x%llx), SEPT_VE_DISABLE %s%s",
                        (unsigned long long)a, reserved ? "SET" : "clear",
                        (unsigned long long)reserved, sept ? "set" : "clear",
                        !sept && p->require_sept_ve_disable ? " but the policy requires it" : "");
}

/* TDX 1.5: a service TD bound to this TD extends its trust; refused unless named. */
static void appraise_servicetd(const veil_tdx_quote *q, const veil_tdx_policy *p, veil_verdict *v)
{
    static const uint8_t zero[48];
    if (q->body_type != VEIL_TDX_BODY_TYPE_TD15)
        return;
    bool none = veil_public_equal(q->body.mr_servicetd, 48, zero, 48);
    char h[20];
    short_hex(q->body.mr_servicetd, 48, h);
    if (none) {
        veil_verdict_record(v, VEIL_CHECK_POLICY, true, "MRSERVICETD zero: no service TD bound");
        return;
    }
    bool ok = in_list(q->body.mr_servicetd, p->mrservicetd, p->n_mrservicetd);
    veil_verdict_record(v, VEIL_CHECK_POLICY, ok, "MRSERVICETD %s... %s", h,
                        ok ? "is accepted by the policy" : "is not accepted by the policy");
}

static void appraise_tcb(const veil_tdx_quote *q, const veil_tdx_policy *p, veil_verdict *v)
{
    if (!p->have_min_tcb_status)
        return;
    const char *min = veil_tdx_tcb_status_name(p->min_tcb_status);
    if (!q->tcb.evaluated) {
        veil_verdict_record(v, VEIL_CHECK_TCB, false,
                            "the policy's min_tcb_status %s needs collateral: the TCB status is "
                            "unknown",
                            min);
        return;
    }
    bool ok = q->tcb.status <= p->min_tcb_status;
    veil_verdict_record(v, VEIL_CHECK_TCB, ok, "TCB status %s %s the policy's minimum %s",
                        veil_tdx_tcb_status_name(q->tcb.status), ok ? "meets" : "is worse than",
                        min);
}

static void appraise_report_data(const veil_tdx_quote *q, const veil_tdx_policy *p, veil_verdict *v)
{
    if (!p->have_report_data)
        return;
    char have[20], want[20];
    short_hex(q->body.report_data, 64, have);
    short_hex(p->report_data, 64, want);
    bool ok = veil_public_equal(q->body.report_data, 64, p->report_data, 64);
    veil_verdict_record(v, VEIL_CHECK_REPORT_DATA, ok, "REPORTDATA %s...%s%s%s", have,
                        ok ? " as expected" : ", expected ", ok ? "" : want, ok ? "" : "...");
}

void veil_tdx_appraise(const veil_tdx_quote *q, const veil_tdx_eventlog *log,
                       const veil_tdx_policy *p, veil_verdict *v)
{
    appraise_list(v, VEIL_CHECK_MRTD, "MRTD", q->body.mr_td, p->mrtd, p->n_mrtd, true);
    appraise_rtmrs(q, log, p, v);
    appraise_list(v, VEIL_CHECK_MRCONFIGID, "MRCONFIGID", q->body.mr_config_id, p->mrconfigid,
                  p->n_mrconfigid, false);
    appraise_list(v, VEIL_CHECK_MROWNER, "MROWNER", q->body.mr_owner, p->mrowner, p->n_mrowner,
                  false);
    appraise_servicetd(q, p, v);
    appraise_attributes(q, p, v);
    appraise_tcb(q, p, v);
    appraise_report_data(q, p, v);
}
