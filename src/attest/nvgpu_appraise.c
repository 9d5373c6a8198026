/* Appraisal of authentic NVIDIA GPU reports against the signed RIMs and a
 * policy (notes/attestation-formats.md §3.5; nvtrust verifier.py Verifier,
 * rim/__init__.py RIM.verify). Each constrained property is one named check;
 * the verdict stays at reject until all of them pass. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "attest/nvgpu_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"

bool nvgpu_str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

static bool root_trusted(const uint8_t fp[32], const veil_nvgpu_policy *p)
{
    for (size_t i = 0; i < p->n_sim_roots; i++)
        if (veil_public_equal(fp, 32, p->sim_roots[i], 32))
            return true;
    return false;
}

/* ---- SIMULATED ------------------------------------------------------------------------- */

static void appraise_simulated(const veil_nvgpu_decoded *d, const veil_nvgpu_policy *p,
                               veil_verdict *v)
{
    if (!d->simulated)
        return;
    char fp[65];
    veil_hex_encode(d->root_sha256, 32, fp);
    bool ok = root_trusted(d->root_sha256, p);
    veil_verdict_record(v, VEIL_CHECK_SIMULATED, ok,
                        "the GPU evidence rests on a SIMULATED root (SHA-256 %.16s...) %s: no "
                        "hardware protection, for tests only",
                        fp, ok ? "that the policy names" : "that the policy does not trust");
}

/* ---- RIM --------------------------------------------------------------------------------- */

/* The RIM passed veil_nvgpu_rim_verify, on a root the policy accepts. */
static bool rim_usable(const veil_nvgpu_rim *rim, const char *what, const veil_nvgpu_policy *p,
                       veil_verdict *v)
{
    if (!rim->verified) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false,
                            "the %s RIM was not verified (signature or signer chain)", what);
        return false;
    }
    if (rim->simulated && !root_trusted(rim->root_sha256, p)) {
        veil_verdict_record(v, VEIL_CHECK_RIM, false,
                            "the %s RIM is signed under a SIMULATED root the policy does not "
                            "trust",
                            what);
        return false;
    }
    return true;
}

/* DRIVER_VERSION / VBIOS_VERSION == the RIM's colloquialVersion (nvtrust
 * compares lower-cased strings). */
static void rim_version(const veil_nvgpu_rim *rim, const char *what, bool have,
                        const char *reported, veil_verdict *v)
{
    bool ok = have && nvgpu_str_ieq(reported, rim->colloquial_version);
    veil_verdict_record(v, VEIL_CHECK_RIM, ok,
                        "%s version in the report \"%.40s\" %s the %s RIM's "
                        "colloquialVersion \"%.40s\"",
                        what, have ? reported : "(absent)", ok ? "matches" : "differs from", what,
                        rim->colloquial_version);
}

/* verifier.py generate_golden_measurement_list: no index active in both. */
static void rim_conflict(const veil_nvgpu_rim *drv, const veil_nvgpu_rim *vb, veil_verdict *v)
{
    for (size_t i = 0; i < drv->n_entries; i++) {
        if (!drv->entries[i].active)
            continue;
        for (size_t k = 0; k < vb->n_entries; k++) {
            if (vb->entries[k].active && vb->entries[k].index == drv->entries[i].index) {
                veil_verdict_record(v, VEIL_CHECK_RIM, false,
                                    "measurement index %u is active in both the driver and the "
                                    "VBIOS RIM",
                                    drv->entries[i].index);
                return;
            }
        }
    }
}

/* Records the RIM checks; *drv_out / *vb_out are the RIMs whose measurements
 * may be used (NULL otherwise). */
static void appraise_rims(const veil_nvgpu_decoded *d, const veil_nvgpu_rim *drv,
                          const veil_nvgpu_rim *vb, const veil_nvgpu_policy *p, veil_verdict *v,
                          const veil_nvgpu_rim **drv_out, const veil_nvgpu_rim **vb_out)
{
    const veil_nvgpu_opaque *o = &d->report.opaque;
    *drv_out = *vb_out = NULL;
    if (p->require_rims && (!drv || !vb))
        veil_verdict_record(v, VEIL_CHECK_RIM, false,
                            "the policy requires the driver and VBIOS RIMs; missing: %s%s%s",
                            drv ? "" : "driver", !drv && !vb ? ", " : "", vb ? "" : "VBIOS");
    if (drv && rim_usable(drv, "driver", p, v)) {
        rim_version(drv, "driver", o->has_driver_version, o->driver_version, v);
        *drv_out = drv;
    }
    if (vb && rim_usable(vb, "VBIOS", p, v)) {
        rim_version(vb, "VBIOS", o->has_vbios_version, o->vbios_version, v);
        *vb_out = vb;
    }
    if (*drv_out && *vb_out)
        rim_conflict(drv, vb, v);
}

/* ---- GPU_VERSION ---------------------------------------------------------------------------- */

static void pinned_version(const char *what, const char *want, bool have, const char *reported,
                           veil_verdict *v)
{
    if (!want[0])
        return;
    if (have && nvgpu_str_ieq(reported, want))
        veil_verdict_record(v, VEIL_CHECK_GPU_VERSION, true,
                            "%s version \"%.40s\" is the required version", what, reported);
    else
        veil_verdict_record(v, VEIL_CHECK_GPU_VERSION, false,
                            "%s version \"%.40s\", the policy requires \"%.40s\"", what,
                            have ? reported : "(absent)", want);
}

/* ---- GPU_MEASUREMENT ------------------------------------------------------------------------ */

static void add_mismatch(veil_nvgpu_appraisal *a, uint32_t index)
{
    size_t i = 0;
    while (i < a->n_mismatched && a->mismatched[i] < index)
        i++;
    if (i < a->n_mismatched && a->mismatched[i] == index)
        return;
    if (a->n_mismatched == VEIL_NVGPU_MAX_BLOCKS)
        return; /* the count in `golden - matched` stays exact */
    memmove(&a->mismatched[i + 1], &a->mismatched[i],
            (a->n_mismatched - i) * sizeof a->mismatched[0]);
    a->mismatched[i] = index;
    a->n_mismatched++;
}

/* Compare golden index i (RIM numbering) with report block i+1. */
static void compare(const veil_nvgpu_report *r, uint32_t index, const uint8_t (*alts)[48],
                    size_t n_alts, veil_nvgpu_appraisal *a)
{
    bool nvdec_off =
        r->opaque.has_nvdec0_status && r->opaque.nvdec0_status == VEIL_NVGPU_NVDEC_DISABLED;
    if (index == VEIL_NVGPU_NVDEC_RIM_INDEX && nvdec_off) {
        a->skipped++;
        return;
    }
    a->golden++;
    const veil_nvgpu_block *b = index < 255 ? veil_nvgpu_report_block(r, index + 1) : NULL;
    bool ok = false;
    for (size_t k = 0; b && b->value_size == VEIL_NVGPU_MEAS_LEN && k < n_alts && !ok; k++)
        ok = veil_public_equal(b->value, VEIL_NVGPU_MEAS_LEN, alts[k], VEIL_NVGPU_MEAS_LEN);
    if (ok)
        a->matched++;
    else
        add_mismatch(a, index);
}

static void compare_rim(const veil_nvgpu_report *r, const veil_nvgpu_rim *rim,
                        veil_nvgpu_appraisal *a, size_t *n_active)
{
    *n_active = 0;
    for (size_t i = 0; rim && i < rim->n_entries; i++) {
        const veil_nvgpu_rim_entry *e = &rim->entries[i];
        if (!e->active)
            continue;
        (*n_active)++;
        compare(r, e->index, (const uint8_t(*)[48])e->alts, e->n_alts, a);
    }
}

static void mismatch_list(const veil_nvgpu_appraisal *a, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->n_mismatched && n + 16 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%u", i ? "," : "", a->mismatched[i]);
    if (a->n_mismatched && n + 16 >= cap)
        snprintf(buf + n, cap - n, ",...");
}

static void appraise_measurements(const veil_nvgpu_report *r, const veil_nvgpu_rim *drv,
                                  const veil_nvgpu_rim *vb, const veil_nvgpu_policy *p,
                                  veil_verdict *v, veil_nvgpu_appraisal *a)
{
    size_t n_drv = 0, n_vb = 0;
    char list[100];
    compare_rim(r, drv, a, &n_drv);
    compare_rim(r, vb, a, &n_vb);
    for (size_t i = 0; i < p->n_measurements; i++) {
        const veil_nvgpu_policy_values *pv = &p->measurements[i];
        compare(r, pv->index, (const uint8_t(*)[48])pv->values, pv->n, a);
    }
    if (a->golden == 0 && a->skipped == 0) {
        veil_verdict_record(v, VEIL_CHECK_GPU_MEASUREMENT, true,
                            "%u blocks, no reference values (no verified RIM, no policy "
                            "measurements): not compared",
                            r->n_blocks);
        return;
    }
    bool ok = a->matched == a->golden;
    mismatch_list(a, list, sizeof list);
    veil_verdict_record(v, VEIL_CHECK_GPU_MEASUREMENT, ok,
                        "%zu/%zu golden measurements match (driver RIM %zu, VBIOS RIM %zu, policy "
                        "%zu; %zu skipped: NVDEC0 disabled)%s%s",
                        a->matched, a->golden, n_drv, n_vb, p->n_measurements, a->skipped,
                        ok ? "" : "; mismatched RIM indexes ", list);
}

/* ---- GPU_CC_MODE ---------------------------------------------------------------------------- */

static void appraise_cc(veil_nvgpu_cc_mode m, const veil_nvgpu_policy *p, veil_verdict *v)
{
    switch (m) {
    case VEIL_NVGPU_CC_ON:
        veil_verdict_record(v, VEIL_CHECK_GPU_CC_MODE, true, "confidential computing on (NVML)");
        return;
    case VEIL_NVGPU_CC_DEVTOOLS:
        veil_verdict_record(v, VEIL_CHECK_GPU_CC_MODE, p->allow_devtools,
                            "confidential computing in devtools mode (NVML)%s",
                            p->allow_devtools ? ", allowed by the policy"
                                              : ": not confidential, refused by the policy");
        return;
    case VEIL_NVGPU_CC_OFF:
        veil_verdict_record(v, VEIL_CHECK_GPU_CC_MODE, false,
                            "confidential computing is off (NVML)");
        return;
    default:
        if (p->require_cc_mode)
            veil_verdict_record(v, VEIL_CHECK_GPU_CC_MODE, false,
                                "the policy requires the CC state, and none was reported");
        return;
    }
}

void veil_nvgpu_appraise(const veil_nvgpu_decoded *d, const veil_nvgpu_rim *driver,
                         const veil_nvgpu_rim *vbios, const veil_nvgpu_policy *p, veil_verdict *v,
                         veil_nvgpu_appraisal *out)
{
    veil_nvgpu_appraisal local;
    veil_nvgpu_appraisal *a = out ? out : &local;
    veil_nvgpu_policy def;
    const veil_nvgpu_rim *drv = NULL, *vb = NULL;
    memset(a, 0, sizeof *a);
    if (!v)
        return;
    if (!p) {
        veil_nvgpu_policy_default(&def);
        p = &def;
    }
    if (!d || !d->have_report) {
        veil_verdict_record(v, VEIL_CHECK_FORMAT, false, "no decoded GPU report to appraise");
        return;
    }
    const veil_nvgpu_opaque *o = &d->report.opaque;
    appraise_simulated(d, p, v);
    appraise_rims(d, driver, vbios, p, v, &drv, &vb);
    pinned_version("driver", p->driver_version, o->has_driver_version, o->driver_version, v);
    pinned_version("VBIOS", p->vbios_version, o->has_vbios_version, o->vbios_version, v);
    appraise_measurements(&d->report, drv, vb, p, v, a);
    appraise_cc(d->cc_mode, p, v);
}
