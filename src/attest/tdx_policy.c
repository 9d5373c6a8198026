/* TDX appraisal policies (veil/tdx.h) from JSON. Strict, like the SEV-SNP
 * policy (policy.c): unknown members, wrong types and bad hex are errors
 * naming the member, so a typo cannot silently weaken a policy. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/hex.h"
#include "veil/tdx.h"
#include "veil/timeutil.h"

#define POLICY_MAX ((size_t)256 << 10)

void veil_tdx_policy_default(veil_tdx_policy *p)
{
    memset(p, 0, sizeof *p);
    p->min_tcb_status = VEIL_TDX_TCB_UNKNOWN;
    snprintf(p->id, sizeof p->id, "default");
}

static veil_result hex_exact(json_t *v, uint8_t *out, size_t n, const char *bad)
{
    VEIL_ENSURE(json_is_string(v) && json_string_length(v) == 2 * n, VEIL_E_PROTOCOL, bad);
    veil_buf b;
    veil_buf_init(&b, n);
    veil_result r = veil_hex_decode(json_string_value(v), 2 * n, &b);
    if (veil_ok(r))
        memcpy(out, b.data, n);
    veil_buf_free(&b);
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, bad);
    return VEIL_OK;
}

static veil_result hex_list(json_t *arr, uint8_t (*out)[48], size_t *count, const char *bad)
{
    VEIL_ENSURE(json_is_array(arr) && json_array_size(arr) <= VEIL_TDX_POLICY_MAX_VALUES,
                VEIL_E_PROTOCOL, bad);
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        VEIL_GUARD(hex_exact(v, out[i], 48, bad));
    }
    *count = json_array_size(arr);
    return VEIL_OK;
}

static veil_result read_bool(json_t *v, bool *out, const char *bad)
{
    VEIL_ENSURE(json_is_boolean(v), VEIL_E_PROTOCOL, bad);
    *out = json_is_true(v);
    return VEIL_OK;
}

static veil_result read_status(json_t *v, veil_tdx_policy *p)
{
    VEIL_ENSURE(json_is_string(v), VEIL_E_PROTOCOL,
                "policy: \"min_tcb_status\" must be a TCB status string");
    p->min_tcb_status = veil_tdx_tcb_status_from_name(json_string_value(v));
    VEIL_ENSURE(p->min_tcb_status != VEIL_TDX_TCB_UNKNOWN &&
                    p->min_tcb_status != VEIL_TDX_TCB_REVOKED,
                VEIL_E_PROTOCOL,
                "policy: \"min_tcb_status\" must be UpToDate, SWHardeningNeeded, "
                "ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate or "
                "OutOfDateConfigurationNeeded");
    p->have_min_tcb_status = true;
    return VEIL_OK;
}

static veil_result read_time(json_t *v, int64_t *out)
{
    VEIL_ENSURE(json_is_string(v) && veil_ok(veil_time_parse(json_string_value(v), out)),
                VEIL_E_PROTOCOL, "policy: \"verification_time\" must be like 2026-03-01T00:00:00Z");
    return VEIL_OK;
}

static veil_result read_member(const char *key, json_t *v, veil_tdx_policy *p)
{
    static const char *const rtmr_keys[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(key, rtmr_keys[i])) {
            p->have_rtmr[i] = true;
            return hex_exact(v, p->rtmr[i], 48,
                             "policy: \"rtmr0\"..\"rtmr3\" must be 96 hex digits each");
        }
    if (!strcmp(key, "mrtd"))
        return hex_list(v, p->mrtd, &p->n_mrtd,
                        "policy: \"mrtd\" must be a list of 96-hex-digit values");
    if (!strcmp(key, "event_digests"))
        return hex_list(v, p->event_digests, &p->n_event_digests,
                        "policy: \"event_digests\" must be a list of 96-hex-digit SHA-384 digests");
    if (!strcmp(key, "mrconfigid"))
        return hex_list(v, p->mrconfigid, &p->n_mrconfigid,
                        "policy: \"mrconfigid\" must be a list of 96-hex-digit values");
    if (!strcmp(key, "mrowner"))
        return hex_list(v, p->mrowner, &p->n_mrowner,
                        "policy: \"mrowner\" must be a list of 96-hex-digit values");
    if (!strcmp(key, "mrservicetd"))
        return hex_list(v, p->mrservicetd, &p->n_mrservicetd,
                        "policy: \"mrservicetd\" must be a list of 96-hex-digit values");
    if (!strcmp(key, "replay"))
        return read_bool(v, &p->replay, "policy: \"replay\" must be true or false");
    if (!strcmp(key, "allow_debug"))
        return read_bool(v, &p->allow_debug, "policy: \"allow_debug\" must be true or false");
    if (!strcmp(key, "require_sept_ve_disable"))
        return read_bool(v, &p->require_sept_ve_disable,
                         "policy: \"require_sept_ve_disable\" must be true or false");
    if (!strcmp(key, "min_tcb_status"))
        return read_status(v, p);
    if (!strcmp(key, "report_data")) {
        p->have_report_data = true;
        return hex_exact(v, p->report_data, 64, "policy: \"report_data\" must be 128 hex digits");
    }
    if (!strcmp(key, "verification_time"))
        return read_time(v, &p->verification_time);
    if (!strcmp(key, "comment") || !strcmp(key, "$schema"))
        return VEIL_OK;
    return VEIL_ERR(VEIL_E_PROTOCOL, "policy: unknown member for a TDX policy (mrtd, rtmr0..3, "
                                     "replay, event_digests, mrconfigid, mrowner, mrservicetd, "
                                     "allow_debug, require_sept_ve_disable, min_tcb_status, "
                                     "report_data, verification_time)");
}

veil_result veil_tdx_policy_parse(const char *json, size_t len, veil_tdx_policy *out)
{
    veil_tdx_policy_default(out);
    VEIL_ENSURE(json != NULL || len == 0, VEIL_E_USAGE, "policy: NULL text with a length");
    VEIL_ENSURE(len <= POLICY_MAX, VEIL_E_PROTOCOL, "policy: larger than 256 KiB");
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE(root != NULL, VEIL_E_PROTOCOL, "policy: not valid JSON");
    veil_result r =
        json_is_object(root) ? VEIL_OK : VEIL_ERR(VEIL_E_PROTOCOL, "policy: not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach (root, key, v) {
        if (veil_ok(r))
            r = read_member(key, v, out);
    }
    json_decref(root);
    uint8_t digest[32];
    if (veil_ok(r))
        r = veil_sha256(json, len, digest);
    if (veil_ok(r)) {
        char hex[65];
        veil_hex_encode(digest, sizeof digest, hex);
        snprintf(out->id, sizeof out->id, "sha256:%s", hex);
    } else {
        veil_tdx_policy_default(out);
    }
    return r;
}
