/* NVIDIA GPU appraisal policies (veil/nvgpu.h) from JSON. Strict, like the
 * SEV-SNP policy (policy.c): unknown members, wrong types, bad hex and
 * out-of-range indexes are errors naming the member. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/hex.h"
#include "veil/nvgpu.h"
#include "veil/timeutil.h"

#define POLICY_MAX_TEXT (256u << 10)
#define MAX_RIM_INDEX 65535

void veil_nvgpu_policy_default(veil_nvgpu_policy *p)
{
    memset(p, 0, sizeof *p);
    p->require_rims = true;
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

static veil_result read_bool(json_t *v, bool *out, const char *bad)
{
    VEIL_ENSURE(json_is_boolean(v), VEIL_E_PROTOCOL, bad);
    *out = json_is_true(v);
    return VEIL_OK;
}

/* A version string: 1..63 printable ASCII characters. */
static veil_result read_version(json_t *v, char out[VEIL_NVGPU_STR_MAX], const char *bad)
{
    VEIL_ENSURE(json_is_string(v), VEIL_E_PROTOCOL, bad);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    VEIL_ENSURE(n > 0 && n < VEIL_NVGPU_STR_MAX, VEIL_E_PROTOCOL, bad);
    for (size_t i = 0; i < n; i++)
        VEIL_ENSURE(s[i] >= 0x20 && s[i] < 0x7F, VEIL_E_PROTOCOL, bad);
    memcpy(out, s, n + 1);
    return VEIL_OK;
}

/* "7" -> 7: decimal digits only, 0..65535. */
static bool parse_index(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > MAX_RIM_INDEX)
        return false;
    *out = v;
    return true;
}

static veil_result read_values(json_t *v, veil_nvgpu_policy_values *pv)
{
    static const char bad[] = "policy: each \"measurements\" value must be a 96-hex-digit digest "
                              "or a list of 1..8 of them";
    if (json_is_string(v)) {
        pv->n = 1;
        return hex_exact(v, pv->values[0], VEIL_NVGPU_MEAS_LEN, bad);
    }
    VEIL_ENSURE(json_is_array(v) && json_array_size(v) > 0 &&
                    json_array_size(v) <= VEIL_NVGPU_POLICY_MAX_ALTS,
                VEIL_E_PROTOCOL, bad);
    size_t i;
    json_t *h;
    json_array_foreach (v, i, h) {
        VEIL_GUARD(hex_exact(h, pv->values[i], VEIL_NVGPU_MEAS_LEN, bad));
    }
    pv->n = json_array_size(v);
    return VEIL_OK;
}

static veil_result read_measurements(json_t *o, veil_nvgpu_policy *p)
{
    VEIL_ENSURE(json_is_object(o) && json_object_size(o) <= VEIL_NVGPU_POLICY_MAX_INDEXES,
                VEIL_E_PROTOCOL,
                "policy: \"measurements\" must be an object of at most 64 \"<RIM index>\": "
                "values");
    const char *key;
    json_t *v;
    json_object_foreach (o, key, v) {
        veil_nvgpu_policy_values *pv = &p->measurements[p->n_measurements];
        VEIL_ENSURE(parse_index(key, &pv->index), VEIL_E_PROTOCOL,
                    "policy: a \"measurements\" key is not a RIM index 0..65535");
        for (size_t i = 0; i < p->n_measurements; i++)
            VEIL_ENSURE(p->measurements[i].index != pv->index, VEIL_E_PROTOCOL,
                        "policy: a \"measurements\" index occurs twice");
        VEIL_GUARD(read_values(v, pv));
        p->n_measurements++;
    }
    return VEIL_OK;
}

static veil_result read_roots(json_t *arr, veil_nvgpu_policy *p)
{
    static const char bad[] = "policy: \"trusted_simulated_roots\" must be a list of at most 16 "
                              "SHA-256 hex fingerprints";
    VEIL_ENSURE(json_is_array(arr) && json_array_size(arr) <= VEIL_NVGPU_POLICY_MAX_ROOTS,
                VEIL_E_PROTOCOL, bad);
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        VEIL_GUARD(hex_exact(v, p->sim_roots[i], 32, bad));
    }
    p->n_sim_roots = json_array_size(arr);
    return VEIL_OK;
}

static veil_result read_member(const char *key, json_t *v, veil_nvgpu_policy *p)
{
    if (!strcmp(key, "measurements"))
        return read_measurements(v, p);
    if (!strcmp(key, "driver_version"))
        return read_version(v, p->driver_version,
                            "policy: \"driver_version\" must be a short version string");
    if (!strcmp(key, "vbios_version"))
        return read_version(v, p->vbios_version,
                            "policy: \"vbios_version\" must be a short version string");
    if (!strcmp(key, "require_rims"))
        return read_bool(v, &p->require_rims, "policy: \"require_rims\" must be true or false");
    if (!strcmp(key, "require_cc_mode"))
        return read_bool(v, &p->require_cc_mode,
                         "policy: \"require_cc_mode\" must be true or false");
    if (!strcmp(key, "allow_devtools"))
        return read_bool(v, &p->allow_devtools, "policy: \"allow_devtools\" must be true or false");
    if (!strcmp(key, "trusted_simulated_roots"))
        return read_roots(v, p);
    if (!strcmp(key, "verification_time")) {
        VEIL_ENSURE(json_is_string(v) &&
                        veil_ok(veil_time_parse(json_string_value(v), &p->verification_time)),
                    VEIL_E_PROTOCOL,
                    "policy: \"verification_time\" must be like 2024-06-01T00:00:00Z");
        return VEIL_OK;
    }
    if (!strcmp(key, "comment") || !strcmp(key, "$schema"))
        return VEIL_OK;
    return VEIL_ERR(VEIL_E_PROTOCOL, "policy: unknown member in the GPU policy (see veil/nvgpu.h)");
}

veil_result veil_nvgpu_policy_parse(const char *json, size_t len, veil_nvgpu_policy *out)
{
    veil_result r = VEIL_OK;
    json_t *root = NULL;
    veil_nvgpu_policy_default(out);
    VEIL_ENSURE(json != NULL || len == 0, VEIL_E_USAGE, "policy: NULL input with a length");
    VEIL_ENSURE_GOTO(r, len <= POLICY_MAX_TEXT, VEIL_E_PROTOCOL, "policy: larger than 256 KiB");
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(r, root != NULL, VEIL_E_PROTOCOL, "policy: not valid JSON");
    VEIL_ENSURE_GOTO(r, json_is_object(root), VEIL_E_PROTOCOL, "policy: not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach (root, key, v) {
        VEIL_TRY(r, read_member(key, v, out));
    }
    uint8_t digest[32];
    VEIL_TRY(r, veil_sha256(json, len, digest));
    char hex[65];
    veil_hex_encode(digest, sizeof digest, hex);
    snprintf(out->id, sizeof out->id, "sha256:%s", hex);
out:
    json_decref(root);
    if (!veil_ok(r))
        veil_nvgpu_policy_default(out);
    return r;
}
