/* Verdicts: reject until every recorded check has passed. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "veil/attest.h"

static const char *const names[VEIL_CHECK_COUNT] = {
    [VEIL_CHECK_NONE] = "none",
    [VEIL_CHECK_UNCHECKED] = "unchecked",
    [VEIL_CHECK_FORMAT] = "format",
    [VEIL_CHECK_CHAIN] = "chain",
    [VEIL_CHECK_VCEK] = "vcek",
    [VEIL_CHECK_SIGNATURE] = "signature",
    [VEIL_CHECK_SIMULATED] = "simulated",
    [VEIL_CHECK_MEASUREMENT] = "measurement",
    [VEIL_CHECK_TCB] = "tcb",
    [VEIL_CHECK_DEBUG] = "debug",
    [VEIL_CHECK_POLICY] = "policy",
    [VEIL_CHECK_VMPL] = "vmpl",
    [VEIL_CHECK_REPORT_DATA] = "report_data",
    [VEIL_CHECK_HOST_DATA] = "host_data",
    [VEIL_CHECK_ID_KEY] = "id_key",
    [VEIL_CHECK_AUTHOR_KEY] = "author_key",
    [VEIL_CHECK_NONCE] = "nonce",
    [VEIL_CHECK_PRODUCT] = "product",
    [VEIL_CHECK_RUNTIME_DATA] = "runtime_data",
    [VEIL_CHECK_QE] = "qe",
    [VEIL_CHECK_COLLATERAL] = "collateral",
    [VEIL_CHECK_RTMR] = "rtmr",
    [VEIL_CHECK_MRTD] = "mrtd",
    [VEIL_CHECK_TD_ATTRIBUTES] = "td_attributes",
    [VEIL_CHECK_MRCONFIGID] = "mrconfigid",
    [VEIL_CHECK_MROWNER] = "mrowner",
    [VEIL_CHECK_GPU_MEASUREMENT] = "gpu_measurement",
    [VEIL_CHECK_FWID] = "fwid",
    [VEIL_CHECK_RIM] = "rim",
    [VEIL_CHECK_GPU_CC_MODE] = "gpu_cc_mode",
    [VEIL_CHECK_GPU_VERSION] = "gpu_version",
};

const char *veil_check_name(veil_check c)
{
    return (unsigned)c < VEIL_CHECK_COUNT && names[c] ? names[c] : "unknown";
}

veil_check veil_check_from_name(const char *name)
{
    for (int i = 0; i < VEIL_CHECK_COUNT; i++)
        if (names[i] && !strcmp(names[i], name))
            return (veil_check)i;
    return VEIL_CHECK_COUNT;
}

void veil_verdict_init(veil_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->failed = VEIL_CHECK_UNCHECKED;
    snprintf(v->reason, sizeof v->reason, "no check has been performed");
}

void veil_verdict_record(veil_verdict *v, veil_check c, bool passed, const char *fmt, ...)
{
    char detail[VEIL_VERDICT_DETAIL] = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (v->n_trace < VEIL_VERDICT_MAX_TRACE) {
        veil_check_record *r = &v->trace[v->n_trace++];
        r->check = c;
        r->passed = passed;
        memcpy(r->detail, detail, sizeof detail);
    }
    bool first_failure = v->failed == VEIL_CHECK_UNCHECKED || v->failed == VEIL_CHECK_NONE;
    if (!passed && first_failure) {
        v->failed = c;
        /* "check: detail", cut to fit */
        size_t n = (size_t)snprintf(v->reason, sizeof v->reason, "%s: ", veil_check_name(c));
        if (n < sizeof v->reason)
            memcpy(v->reason + n, detail, sizeof v->reason - n - 1);
        v->reason[sizeof v->reason - 1] = '\0';
    }
}

bool veil_verdict_finish(veil_verdict *v)
{
    bool any_pass = false;
    for (size_t i = 0; i < v->n_trace; i++) {
        if (!v->trace[i].passed)
            return false;
        any_pass = true;
    }
    if (!any_pass || v->failed != VEIL_CHECK_UNCHECKED)
        return v->failed == VEIL_CHECK_NONE;
    v->failed = VEIL_CHECK_NONE;
    v->reason[0] = '\0';
    return true;
}

bool veil_verdict_accepted(const veil_verdict *v) { return v->failed == VEIL_CHECK_NONE; }
