/* Composite attestation (veil/composite.h): the binding of every GPU nonce
 * and the CPU REPORT_DATA to one base value, the composite policy, and one
 * verification over a CPU TEE plus its GPUs. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/json_util.h"
#include "crypto/digest.h"
#include "veil/appraise.h"
#include "veil/base64.h"
#include "veil/composite.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/nvgpu.h"
#include "veil/tdx.h"

#define LABEL_LEN(l) (sizeof(l) - 1)

/* ---- binding ------------------------------------------------------------------------------ */

veil_result veil_composite_base_from_nonce(const uint8_t *nonce, size_t nonce_len,
                                           uint8_t base[VEIL_COMPOSITE_BASE_LEN])
{
    uint8_t msg[LABEL_LEN(VEIL_COMPOSITE_LABEL_VERIFY) + VEIL_COMPOSITE_NONCE_MAX];
    VEIL_ENSURE(nonce && base && nonce_len >= VEIL_COMPOSITE_NONCE_MIN &&
                    nonce_len <= VEIL_COMPOSITE_NONCE_MAX,
                VEIL_E_USAGE, "composite: the verifier nonce must be 16..64 bytes");
    memcpy(msg, VEIL_COMPOSITE_LABEL_VERIFY, LABEL_LEN(VEIL_COMPOSITE_LABEL_VERIFY));
    memcpy(msg + LABEL_LEN(VEIL_COMPOSITE_LABEL_VERIFY), nonce, nonce_len);
    return veil_sha512(msg, LABEL_LEN(VEIL_COMPOSITE_LABEL_VERIFY) + nonce_len, base);
}

veil_result veil_composite_gpu_nonce(const uint8_t base[VEIL_COMPOSITE_BASE_LEN], unsigned index,
                                     uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN])
{
    enum { L = LABEL_LEN(VEIL_COMPOSITE_LABEL_GPU_NONCE) };
    uint8_t msg[L + VEIL_COMPOSITE_BASE_LEN + 1];
    uint8_t full[VEIL_SHA256_LEN];
    VEIL_ENSURE(base && nonce && index < VEIL_COMPOSITE_MAX_GPUS, VEIL_E_USAGE,
                "composite: GPU index out of range");
    memcpy(msg, VEIL_COMPOSITE_LABEL_GPU_NONCE, L);
    memcpy(msg + L, base, VEIL_COMPOSITE_BASE_LEN);
    msg[L + VEIL_COMPOSITE_BASE_LEN] = (uint8_t)index;
    VEIL_GUARD(veil_sha256(msg, sizeof msg, full));
    memcpy(nonce, full, VEIL_COMPOSITE_GPU_NONCE_LEN);
    return VEIL_OK;
}

veil_result veil_composite_report_data(const uint8_t base[VEIL_COMPOSITE_BASE_LEN],
                                       const uint8_t *const *gpu_reports,
                                       const size_t *gpu_report_lens, size_t n,
                                       uint8_t report_data[64])
{
    enum { L = LABEL_LEN(VEIL_COMPOSITE_LABEL_REPORT_DATA) };
    uint8_t msg[L + VEIL_COMPOSITE_BASE_LEN + 1 + VEIL_COMPOSITE_MAX_GPUS * VEIL_SHA256_LEN];
    VEIL_ENSURE(base && report_data && n <= VEIL_COMPOSITE_MAX_GPUS &&
                    (n == 0 || (gpu_reports && gpu_report_lens)),
                VEIL_E_USAGE, "composite: at most 16 GPU reports");
    if (n == 0) {
        memcpy(report_data, base, 64);
        return VEIL_OK;
    }
    memcpy(msg, VEIL_COMPOSITE_LABEL_REPORT_DATA, L);
    memcpy(msg + L, base, VEIL_COMPOSITE_BASE_LEN);
    msg[L + VEIL_COMPOSITE_BASE_LEN] = (uint8_t)n;
    size_t off = L + VEIL_COMPOSITE_BASE_LEN + 1;
    for (size_t i = 0; i < n; i++, off += VEIL_SHA256_LEN) {
        VEIL_ENSURE(gpu_reports[i] && gpu_report_lens[i] > 0, VEIL_E_USAGE,
                    "composite: an empty GPU report");
        VEIL_GUARD(veil_sha256(gpu_reports[i], gpu_report_lens[i], msg + off));
    }
    return veil_sha512(msg, off, report_data);
}

veil_result veil_composite_report_data_ev(const uint8_t base[VEIL_COMPOSITE_BASE_LEN],
                                          const veil_evidence *ev, uint8_t report_data[64])
{
    const uint8_t *reps[VEIL_COMPOSITE_MAX_GPUS];
    size_t lens[VEIL_COMPOSITE_MAX_GPUS];
    VEIL_ENSURE(ev && ev->n_gpus <= VEIL_COMPOSITE_MAX_GPUS, VEIL_E_USAGE,
                "composite: at most 16 GPUs");
    for (size_t i = 0; i < ev->n_gpus; i++) {
        reps[i] = ev->gpus[i].report.data;
        lens[i] = ev->gpus[i].report.len;
    }
    return veil_composite_report_data(base, reps, lens, ev->n_gpus, report_data);
}

/* ---- the composite policy ------------------------------------------------------------------ */

typedef struct comp_policy {
    veil_snp_policy snp;
    veil_tdx_policy tdx;
    veil_nvgpu_policy gpu;
    bool have_count;
    size_t count;
    bool gpu_only;
    char id[80];
} comp_policy;

/* tdx: a TDX CPU policy; gpu_only: no CPU, a plain policy is a GPU policy */
static veil_result parse_cpu(const char *text, size_t len, bool tdx, comp_policy *cp)
{
    if (cp->gpu_only)
        return veil_nvgpu_policy_parse(text, len, &cp->gpu);
    if (tdx)
        return veil_tdx_policy_parse(text, len, &cp->tdx);
    return veil_snp_policy_parse(text, len, &cp->snp);
}

/* A member holding an object, re-serialised and handed to its parser. */
static veil_result parse_member(json_t *v, int which, bool tdx, comp_policy *cp)
{
    VEIL_ENSURE(json_is_object(v), VEIL_E_PROTOCOL,
                "composite policy: \"cpu\" and \"gpu\" must be objects");
    char *text = veil_json_dump(v);
    VEIL_ENSURE(text != NULL, VEIL_E_NOMEM, "composite policy: out of memory");
    veil_result r = which == 0 ? parse_cpu(text, strlen(text), tdx, cp)
                               : veil_nvgpu_policy_parse(text, strlen(text), &cp->gpu);
    veil_free(text);
    return r;
}

static veil_result parse_composite(json_t *root, bool tdx, comp_policy *cp)
{
    const char *key;
    json_t *v;
    json_object_foreach (root, key, v) {
        if (!strcmp(key, "cpu")) {
            if (!cp->gpu_only)
                VEIL_GUARD(parse_member(v, 0, tdx, cp));
        } else if (!strcmp(key, "gpu")) {
            VEIL_GUARD(parse_member(v, 1, tdx, cp));
        } else if (!strcmp(key, "gpus")) {
            VEIL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                            json_integer_value(v) <= VEIL_COMPOSITE_MAX_GPUS,
                        VEIL_E_PROTOCOL, "composite policy: \"gpus\" must be an integer 0..16");
            cp->have_count = true;
            cp->count = (size_t)json_integer_value(v);
        } else {
            VEIL_ENSURE(!strcmp(key, "comment") || !strcmp(key, "$schema"), VEIL_E_PROTOCOL,
                        "composite policy: unknown member (expected \"cpu\", \"gpu\", \"gpus\")");
        }
    }
    return VEIL_OK;
}

static veil_result parse_policy(const char *text, size_t len, bool tdx, comp_policy *cp)
{
    veil_result r = VEIL_OK;
    json_t *root = NULL;
    veil_snp_policy_default(&cp->snp); /* cp->gpu_only is the caller's */
    veil_tdx_policy_default(&cp->tdx);
    veil_nvgpu_policy_default(&cp->gpu);
    snprintf(cp->id, sizeof cp->id, "default");
    if (len == 0)
        goto out;
    VEIL_ENSURE_GOTO(r, text && len <= VEIL_COMPOSITE_MAX_POLICY, VEIL_E_PROTOCOL,
                     "composite policy: missing or larger than 256 KiB");
    json_error_t err;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    VEIL_ENSURE_GOTO(r, json_is_object(root), VEIL_E_PROTOCOL, "policy: not a JSON object");
    bool composite = json_object_get(root, "cpu") || json_object_get(root, "gpu") ||
                     json_object_get(root, "gpus");
    if (!composite) { /* a plain CPU policy: its id is the one it always had */
        VEIL_TRY(r, parse_cpu(text, len, tdx, cp));
        snprintf(cp->id, sizeof cp->id, "%s",
                 cp->gpu_only ? cp->gpu.id
                 : tdx        ? cp->tdx.id
                              : cp->snp.id);
        goto out;
    }
    VEIL_TRY(r, parse_composite(root, tdx, cp));
    uint8_t digest[VEIL_SHA256_LEN];
    char hex[2 * VEIL_SHA256_LEN + 1];
    VEIL_TRY(r, veil_sha256(text, len, digest));
    veil_hex_encode(digest, sizeof digest, hex);
    snprintf(cp->id, sizeof cp->id, "sha256:%s", hex);
out:
    json_decref(root);
    return r;
}

veil_result veil_composite_policy_check(const char *policy_json, size_t n, const char *tee)
{
    veil_result r = VEIL_OK;
    VEIL_ENSURE(policy_json || n == 0, VEIL_E_USAGE, "composite: NULL policy");
    comp_policy *cp = veil_calloc(1, sizeof *cp);
    VEIL_ENSURE(cp != NULL, VEIL_E_NOMEM, "composite: out of memory");
    bool any = tee == NULL;
    if (any || !strcmp(tee, "sev-snp"))
        r = parse_policy(policy_json, n, false, cp);
    if ((any && !veil_ok(r)) || (tee && !strcmp(tee, "tdx"))) {
        veil_result rt = parse_policy(policy_json, n, true, cp);
        r = veil_ok(rt) || !any ? rt : r; /* a plain SNP policy's error names SNP members */
    }
    veil_free(cp);
    return r;
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* The last certificate of a PEM bundle (NVIDIA chains end in their root), as DER. */
static bool last_cert_der(const uint8_t *pem, size_t n, veil_buf *der)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    size_t bl = sizeof begin - 1, el = sizeof end - 1, start = n;
    for (size_t i = 0; i + bl <= n; i++)
        if (pem[i] == '-' && veil_public_equal(pem + i, bl, begin, bl))
            start = i + bl;
    if (start == n)
        return false;
    char b64[VEIL_EVIDENCE_MAX_GPU_CERTS];
    size_t k = 0;
    for (size_t i = start; i < n; i++) {
        if (i + el <= n && veil_public_equal(pem + i, el, end, el)) {
            veil_buf_clear(der);
            return veil_ok(veil_base64_decode(b64, k, der));
        }
        if (pem[i] == '\n' || pem[i] == '\r' || pem[i] == ' ' || pem[i] == '\t')
            continue;
        if (k == sizeof b64)
            return false;
        b64[k++] = (char)pem[i];
    }
    return false;
}

static veil_nvgpu_cc_mode cc_mode_from(const char *s)
{
    if (!strcmp(s, "on"))
        return VEIL_NVGPU_CC_ON;
    if (!strcmp(s, "off"))
        return VEIL_NVGPU_CC_OFF;
    if (!strcmp(s, "devtools"))
        return VEIL_NVGPU_CC_DEVTOOLS;
    return VEIL_NVGPU_CC_UNKNOWN;
}

/* Driver or VBIOS RIM: by the version the report names (DRIVER_VERSION /
 * VBIOS_VERSION vs colloquialVersion), else "VBIOS" in tagId / name, else the
 * shape of the version (VBIOS versions have five dotted parts). */
static bool is_vbios_rim(const veil_nvgpu_rim *r, const veil_nvgpu_report *rep)
{
    if (r->colloquial_version[0] && !strcasecmp(r->colloquial_version, rep->opaque.vbios_version))
        return true;
    if (r->colloquial_version[0] && !strcasecmp(r->colloquial_version, rep->opaque.driver_version))
        return false;
    char both[sizeof r->tag_id + sizeof r->name + 1];
    snprintf(both, sizeof both, "%s %s", r->tag_id, r->name);
    for (char *p = both; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    if (strstr(both, "VBIOS"))
        return true;
    size_t dots = 0;
    for (const char *p = r->colloquial_version; *p; p++)
        dots += *p == '.';
    return dots >= 4;
}

/* ---- one GPU --------------------------------------------------------------------------------- */

typedef struct gpu_work {
    veil_nvgpu_decoded d;
    veil_nvgpu_rim driver, vbios;
    veil_buf root;
} gpu_work;

/* The verifier's RIMs, verified into this GPU's verdict. */
static veil_result gpu_rims(const veil_composite_rim *rims, size_t n_rims,
                            const veil_nvgpu_trust *trust, gpu_work *w, veil_verdict *v,
                            bool *have_driver, bool *have_vbios)
{
    veil_result r = VEIL_OK;
    veil_nvgpu_rim peek;
    veil_nvgpu_rim_init(&peek);
    for (size_t i = 0; i < n_rims; i++) {
        bool vb = veil_ok(veil_nvgpu_rim_parse(rims[i].xml, rims[i].len, &peek)) &&
                  is_vbios_rim(&peek, &w->d.report);
        veil_nvgpu_rim_free(&peek);
        bool *have = vb ? have_vbios : have_driver;
        veil_nvgpu_rim *dst = vb ? &w->vbios : &w->driver;
        if (*have) {
            veil_verdict_record(v, VEIL_CHECK_RIM, false, "two %s RIMs given",
                                vb ? "VBIOS" : "driver");
            continue;
        }
        VEIL_TRY(r, veil_nvgpu_rim_verify(rims[i].xml, rims[i].len, vb ? "VBIOS RIM" : "driver RIM",
                                          trust, dst, v));
        *have = true;
    }
out:
    veil_nvgpu_rim_free(&peek);
    return r;
}

static veil_result verify_gpu(const veil_evidence_gpu *g, unsigned index, const comp_policy *cp,
                              const veil_composite_result *res, const uint8_t *given_nonce,
                              int64_t at, const veil_composite_rim *rims, size_t n_rims,
                              veil_composite_device *dev)
{
    veil_result r = VEIL_OK;
    gpu_work *w = veil_calloc(1, sizeof *w);
    veil_verdict *v = &dev->verdict;
    veil_nvgpu_appraisal a;
    bool have_driver = false, have_vbios = false;
    memset(&a, 0, sizeof a);
    snprintf(dev->name, sizeof dev->name, "gpu%u", index);
    veil_verdict_init(v);
    VEIL_ENSURE_GOTO(r, w != NULL, VEIL_E_NOMEM, "composite: out of memory");
    veil_nvgpu_rim_init(&w->driver);
    veil_nvgpu_rim_init(&w->vbios);
    veil_buf_init(&w->root, VEIL_EVIDENCE_MAX_GPU_CERTS);
    /* a simulated root is passed only when the GPU policy names its fingerprint */
    uint8_t fp[VEIL_SHA256_LEN];
    const uint8_t *roots[1] = {NULL};
    size_t root_lens[1] = {0};
    size_t n_roots = 0;
    if (cp->gpu.n_sim_roots && last_cert_der(g->certs.data, g->certs.len, &w->root) &&
        veil_ok(veil_sha256(w->root.data, w->root.len, fp))) {
        for (size_t i = 0; i < cp->gpu.n_sim_roots && !n_roots; i++)
            if (veil_public_equal(fp, sizeof fp, cp->gpu.sim_roots[i], 32)) {
                roots[0] = w->root.data;
                root_lens[0] = w->root.len;
                n_roots = 1;
            }
    }
    veil_nvgpu_trust trust = {at ? at : cp->gpu.verification_time, roots, root_lens, n_roots};
    if (!res->have_base && !given_nonce) {
        veil_verdict_record(v, VEIL_CHECK_NONCE, false,
                            "no verifier nonce (--nonce) or base value to derive the GPU nonce "
                            "from");
    } else {
        uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN];
        if (given_nonce)
            memcpy(nonce, given_nonce, sizeof nonce);
        else
            VEIL_TRY(r, veil_composite_gpu_nonce(res->base, index, nonce));
        VEIL_TRY(r, veil_nvgpu_verify(g->report.data, g->report.len, g->certs.data, g->certs.len,
                                      nonce, &trust, &w->d, v));
        w->d.cc_mode = cc_mode_from(g->cc_mode);
        if (w->d.have_report) {
            VEIL_TRY(r, gpu_rims(rims, n_rims, &trust, w, v, &have_driver, &have_vbios));
            veil_nvgpu_appraise(&w->d, have_driver ? &w->driver : NULL,
                                have_vbios ? &w->vbios : NULL, &cp->gpu, v, &a);
        }
    }
    veil_verdict_finish(v);
    VEIL_TRY(r, veil_nvgpu_result(&w->d, v, &a, have_driver ? &w->driver : NULL,
                                  have_vbios ? &w->vbios : NULL, &cp->gpu, index, &dev->ear));
    snprintf(dev->ear.policy_id, sizeof dev->ear.policy_id, "%s", cp->id);
out:
    if (w) {
        veil_nvgpu_rim_free(&w->driver);
        veil_nvgpu_rim_free(&w->vbios);
        veil_buf_free(&w->root);
        veil_free(w);
    }
    return r;
}

/* ---- the CPU ----------------------------------------------------------------------------------
 */

static veil_result verify_snp(const veil_evidence *ev, comp_policy *cp, int64_t at,
                              veil_composite_device *dev)
{
    veil_verification *vr = veil_calloc(1, sizeof *vr);
    VEIL_ENSURE(vr != NULL, VEIL_E_NOMEM, "composite: out of memory");
    veil_result r = veil_verify_evidence(ev, &cp->snp, at, vr);
    if (veil_ok(r)) {
        dev->verdict = vr->verdict;
        dev->ear = vr->ear; /* ownership of the claims moves to dev */
        vr->ear.claims_json = NULL;
        snprintf(dev->name, sizeof dev->name, "sev-snp");
    }
    veil_verification_free(vr);
    veil_free(vr);
    return r;
}

static veil_result verify_tdx(const veil_evidence *ev, comp_policy *cp, int64_t at,
                              veil_composite_device *dev)
{
    veil_result r = VEIL_OK;
    veil_tdx_quote *q = veil_calloc(1, sizeof *q);
    veil_tdx_eventlog log;
    bool have_log = false;
    memset(&log, 0, sizeof log);
    veil_verdict *v = &dev->verdict;
    veil_verdict_init(v);
    snprintf(dev->name, sizeof dev->name, "tdx");
    VEIL_ENSURE_GOTO(r, q != NULL, VEIL_E_NOMEM, "composite: out of memory");
    veil_tdx_trust trust = {at ? at : cp->tdx.verification_time};
    VEIL_TRY(r, veil_tdx_verify(ev->quote.data, ev->quote.len,
                                ev->collateral.len ? ev->collateral.data : NULL, ev->collateral.len,
                                &trust, q, v));
    bool have_quote = q->raw != NULL; /* FORMAT passed */
    if (ev->event_log.len) {
        veil_result lr = veil_tdx_eventlog_parse(ev->event_log.data, ev->event_log.len, &log);
        if (lr.cls == VEIL_E_PROTOCOL)
            veil_verdict_record(v, VEIL_CHECK_RTMR, false, "%s", lr.msg);
        else
            VEIL_TRY(r, lr);
        have_log = veil_ok(lr);
    }
    if (have_quote)
        veil_tdx_appraise(q, have_log ? &log : NULL, &cp->tdx, v);
    veil_verdict_finish(v);
    VEIL_TRY(
        r, veil_tdx_result(have_quote ? q : NULL, have_log ? &log : NULL, &cp->tdx, v, &dev->ear));
out:
    veil_tdx_eventlog_free(&log);
    veil_free(q);
    return r;
}

/* B: the caller's, else the CPU policy's report_data; then the required REPORT_DATA. */
static veil_result set_binding(const veil_evidence *ev, const uint8_t *base, bool tdx,
                               comp_policy *cp, veil_composite_result *out)
{
    bool *have_rd = tdx ? &cp->tdx.have_report_data : &cp->snp.have_report_data;
    uint8_t *rd = tdx ? cp->tdx.report_data : cp->snp.report_data;
    if (base) {
        VEIL_ENSURE(!*have_rd || veil_public_equal(rd, 64, base, 64), VEIL_E_USAGE,
                    "composite: the policy's report_data differs from the given base value");
        memcpy(out->base, base, VEIL_COMPOSITE_BASE_LEN);
        out->have_base = true;
    } else if (*have_rd) {
        memcpy(out->base, rd, VEIL_COMPOSITE_BASE_LEN);
        out->have_base = true;
    }
    if (!out->have_base)
        return VEIL_OK;
    VEIL_GUARD(veil_composite_report_data_ev(out->base, ev, out->report_data));
    memcpy(rd, out->report_data, 64);
    *have_rd = true;
    return VEIL_OK;
}

/* Every device's trace into the one verdict; GPU details carry "gpu<i>: ". */
static void merge(veil_composite_result *out, const comp_policy *cp, const veil_evidence *ev)
{
    veil_verdict *all = &out->verdict;
    veil_verdict_init(all);
    out->status = VEIL_EAR_AFFIRMING;
    for (size_t d = 0; d < out->n_devices; d++) {
        const veil_composite_device *dev = &out->devices[d];
        char prefix[40] = "";
        if (!strncmp(dev->name, "gpu", 3) && ev)
            snprintf(prefix, sizeof prefix, "%s: ", dev->name);
        for (size_t i = 0; i < dev->verdict.n_trace; i++) {
            const veil_check_record *c = &dev->verdict.trace[i];
            veil_verdict_record(all, c->check, c->passed, "%s%s", prefix, c->detail);
        }
        /* fail closed when a rejected device left no failure in the merged trace */
        bool none_yet = all->failed == VEIL_CHECK_UNCHECKED || all->failed == VEIL_CHECK_NONE;
        if (!veil_verdict_accepted(&dev->verdict) && none_yet)
            veil_verdict_record(all, dev->verdict.failed, false, "%s%s", prefix,
                                dev->verdict.reason);
        if (dev->ear.status == VEIL_EAR_NONE || dev->ear.status > out->status)
            out->status =
                dev->ear.status == VEIL_EAR_NONE ? VEIL_EAR_CONTRAINDICATED : dev->ear.status;
        out->simulated = out->simulated || dev->verdict.simulated;
    }
    if (cp->have_count && ev)
        veil_verdict_record(all, VEIL_CHECK_FORMAT, ev->n_gpus == cp->count,
                            "gpus: %zu GPU entries, the policy requires %zu", ev->n_gpus,
                            cp->count);
    all->simulated = out->simulated;
    if (!veil_verdict_finish(all))
        out->status = VEIL_EAR_CONTRAINDICATED;
}

veil_result veil_verify_composite_rims(const veil_evidence *ev, const char *policy_json, size_t n,
                                       const uint8_t *base, int64_t at,
                                       const veil_composite_rim *rims, size_t n_rims,
                                       veil_composite_result *out)
{
    veil_result r = VEIL_OK;
    comp_policy *cp = NULL;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "composite: NULL result");
    memset(out, 0, sizeof *out);
    veil_verdict_init(&out->verdict);
    out->status = VEIL_EAR_CONTRAINDICATED;
    VEIL_ENSURE_GOTO(r,
                     ev && (policy_json || n == 0) && (rims || n_rims == 0) &&
                         n_rims <= VEIL_COMPOSITE_MAX_RIMS && ev->n_gpus <= VEIL_COMPOSITE_MAX_GPUS,
                     VEIL_E_USAGE, "composite: bad arguments (at most 16 GPUs and 8 RIMs)");
    bool tdx = !strcmp(ev->tee, "tdx");
    VEIL_ENSURE_GOTO(r, tdx || !strcmp(ev->tee, "sev-snp"), VEIL_E_UNSUPPORTED,
                     "composite: the CPU evidence must be \"sev-snp\" or \"tdx\"");
    cp = veil_calloc(1, sizeof *cp);
    VEIL_ENSURE_GOTO(r, cp != NULL, VEIL_E_NOMEM, "composite: out of memory");
    VEIL_TRY(r, parse_policy(policy_json, n, tdx, cp));
    snprintf(out->policy_id, sizeof out->policy_id, "%s", cp->id);
    out->at = at ? at : tdx ? cp->tdx.verification_time : cp->snp.verification_time;
    VEIL_TRY(r, set_binding(ev, base, tdx, cp, out));
    out->n_devices = 1;
    VEIL_TRY(r, tdx ? verify_tdx(ev, cp, at, &out->devices[0])
                    : verify_snp(ev, cp, at, &out->devices[0]));
    snprintf(out->devices[0].ear.policy_id, sizeof out->devices[0].ear.policy_id, "%s", cp->id);
    for (size_t i = 0; i < ev->n_gpus; i++) {
        out->n_devices = i + 2;
        VEIL_TRY(r, verify_gpu(&ev->gpus[i], (unsigned)i, cp, out, NULL, at, rims, n_rims,
                               &out->devices[i + 1]));
    }
    merge(out, cp, ev);
out:
    if (!veil_ok(r) && out) {
        veil_verdict_init(&out->verdict);
        out->status = VEIL_EAR_CONTRAINDICATED;
    }
    veil_free(cp);
    return r;
}

veil_result veil_verify_composite(const veil_evidence *ev, const char *policy_json, size_t n,
                                  const uint8_t *base, int64_t at, veil_composite_result *out)
{
    return veil_verify_composite_rims(ev, policy_json, n, base, at, NULL, 0, out);
}

veil_result veil_verify_gpu_only(const veil_evidence_gpu *gpu,
                                 const uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN],
                                 const char *policy_json, size_t n, int64_t at,
                                 const veil_composite_rim *rims, size_t n_rims,
                                 veil_composite_result *out)
{
    veil_result r = VEIL_OK;
    comp_policy *cp = NULL;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "composite: NULL result");
    memset(out, 0, sizeof *out);
    veil_verdict_init(&out->verdict);
    out->status = VEIL_EAR_CONTRAINDICATED;
    VEIL_ENSURE_GOTO(r,
                     gpu && nonce && (policy_json || n == 0) && (rims || n_rims == 0) &&
                         n_rims <= VEIL_COMPOSITE_MAX_RIMS,
                     VEIL_E_USAGE, "composite: bad arguments (a GPU, its nonce, at most 8 RIMs)");
    cp = veil_calloc(1, sizeof *cp);
    VEIL_ENSURE_GOTO(r, cp != NULL, VEIL_E_NOMEM, "composite: out of memory");
    cp->gpu_only = true;
    VEIL_TRY(r, parse_policy(policy_json, n, false, cp));
    snprintf(out->policy_id, sizeof out->policy_id, "%s", cp->id);
    out->at = at ? at : cp->gpu.verification_time;
    out->n_devices = 1;
    VEIL_TRY(r, verify_gpu(gpu, 0, cp, out, nonce, at, rims, n_rims, &out->devices[0]));
    merge(out, cp, NULL);
out:
    if (!veil_ok(r) && out) {
        veil_verdict_init(&out->verdict);
        out->status = VEIL_EAR_CONTRAINDICATED;
    }
    veil_free(cp);
    return r;
}

void veil_composite_result_free(veil_composite_result *r)
{
    if (!r)
        return;
    for (size_t d = 0; d < VEIL_COMPOSITE_MAX_DEVICES; d++)
        veil_ear_free(&r->devices[d].ear);
    r->n_devices = 0;
}

veil_result veil_composite_sign(const veil_composite_result *r, const veil_sign_key *key,
                                veil_buf *token)
{
    veil_ear subs[VEIL_COMPOSITE_MAX_DEVICES];
    VEIL_ENSURE(r && r->n_devices > 0 && r->n_devices <= VEIL_COMPOSITE_MAX_DEVICES, VEIL_E_USAGE,
                "composite: nothing to sign");
    for (size_t d = 0; d < r->n_devices; d++) {
        subs[d] = r->devices[d].ear; /* shallow: the claims stay owned by r */
        snprintf(subs[d].submod, sizeof subs[d].submod, "%s", r->devices[d].name);
    }
    return veil_ear_sign_multi(subs, r->n_devices, key, token);
}
