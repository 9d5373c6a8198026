/* The attestation result of one GPU: an EAR submodule "gpu<N>" with the
 * status, the AR4SI trustworthiness vector and the appraised claims, like
 * the SEV-SNP result (snp_result.c). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/nvgpu.h"

static void set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    if (n > 64)
        n = 64;
    veil_hex_encode(p, n, hex);
    json_object_set_new(o, key, json_string(hex));
}

/* A certificate name as a JSON string: ASCII kept, anything else '?' (a CN
 * cut to fit could end inside a UTF-8 sequence). */
static json_t *ascii_string(const char *s)
{
    char buf[64];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof buf; i++)
        buf[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F ? s[i] : '?';
    buf[i] = '\0';
    return json_string(buf);
}

static bool authentic(veil_check f)
{
    return f != VEIL_CHECK_FORMAT && f != VEIL_CHECK_CHAIN && f != VEIL_CHECK_FWID &&
           f != VEIL_CHECK_SIGNATURE && f != VEIL_CHECK_UNCHECKED;
}

/* AR4SI tiers: 2 affirming, 32/33 warning, 96 contraindicated, 0 no claim. */
static void fill_vector(const veil_nvgpu_decoded *d, const veil_verdict *v,
                        const veil_nvgpu_appraisal *a, veil_ear *ear)
{
    veil_check f = v->failed;
    bool auth = authentic(f);
    veil_ear_vector *tv = &ear->tv;
    tv->instance_identity = !auth || f == VEIL_CHECK_NONCE ? 96 : 2;
    tv->hardware = !auth ? 96 : v->simulated ? 32 : 2;
    tv->executables = f == VEIL_CHECK_GPU_MEASUREMENT || f == VEIL_CHECK_RIM ? 96
                      : a && a->golden > 0                                   ? 2
                                                                             : 33;
    tv->configuration = f == VEIL_CHECK_GPU_CC_MODE || f == VEIL_CHECK_GPU_VERSION ? 96 : 2;
    /* Only NVML says whether CC mode (the GPU's memory protection) is on. */
    switch (d ? d->cc_mode : VEIL_NVGPU_CC_UNKNOWN) {
    case VEIL_NVGPU_CC_ON: tv->runtime_opaque = v->simulated ? 0 : 2; break;
    case VEIL_NVGPU_CC_DEVTOOLS: tv->runtime_opaque = 32; break;
    case VEIL_NVGPU_CC_OFF: tv->runtime_opaque = 96; break;
    default: tv->runtime_opaque = 0; break;
    }
    ear->status = veil_verdict_accepted(v) ? veil_ear_vector_status(tv) : VEIL_EAR_CONTRAINDICATED;
}

static json_t *measurement_claims(const veil_nvgpu_appraisal *a)
{
    json_t *m = json_pack("{s:I,s:I,s:I}", "golden", (json_int_t)a->golden, "matched",
                          (json_int_t)a->matched, "skipped", (json_int_t)a->skipped);
    json_t *list = json_array();
    for (size_t i = 0; m && list && i < a->n_mismatched; i++)
        json_array_append_new(list, json_integer(a->mismatched[i]));
    if (m && list)
        json_object_set_new(m, "mismatched", list);
    else
        json_decref(list);
    return m;
}

static json_t *claims_json(const veil_nvgpu_decoded *d, const veil_nvgpu_appraisal *a,
                           const veil_nvgpu_rim *drv, const veil_nvgpu_rim *vb)
{
    const veil_nvgpu_report *r = &d->report;
    const veil_nvgpu_opaque *o = &r->opaque;
    json_t *c = json_pack("{s:s,s:s,s:o,s:b,s:i}", "tee", "nvidia-gpu", "cc_mode",
                          veil_nvgpu_cc_mode_name(d->cc_mode), "device", ascii_string(d->leaf_cn),
                          "simulated", d->simulated, "blocks", (int)r->n_blocks);
    if (!c)
        return NULL;
    if (o->has_driver_version)
        json_object_set_new(c, "driver_version", json_string(o->driver_version));
    if (o->has_vbios_version)
        json_object_set_new(c, "vbios_version", json_string(o->vbios_version));
    json_object_set_new(c, "project", json_string(o->project));
    json_object_set_new(c, "project_sku", json_string(o->project_sku));
    json_object_set_new(c, "chip_sku", json_string(o->chip_sku));
    if (o->has_nvdec0_status)
        json_object_set_new(c, "nvdec0_status",
                            json_string(o->nvdec0_status == VEIL_NVGPU_NVDEC_DISABLED ? "disabled"
                                        : o->nvdec0_status == VEIL_NVGPU_NVDEC_ENABLED
                                            ? "enabled"
                                            : "unknown"));
    if (o->has_fwid)
        set_hex(c, "fwid", o->fwid, VEIL_NVGPU_FWID_LEN);
    else if (d->have_cert_fwid)
        set_hex(c, "fwid", d->cert_fwid, VEIL_NVGPU_FWID_LEN);
    if (d->ueid_len)
        set_hex(c, "ueid", d->ueid, d->ueid_len);
    set_hex(c, "nonce", r->nonce, VEIL_NVGPU_NONCE_LEN);
    set_hex(c, "response_nonce", r->response_nonce, VEIL_NVGPU_NONCE_LEN);
    if (a)
        json_object_set_new(c, "measurements", measurement_claims(a));
    json_t *rims = json_object();
    if (rims && drv && drv->verified)
        json_object_set_new(rims, "driver", json_string(drv->tag_id));
    if (rims && vb && vb->verified)
        json_object_set_new(rims, "vbios", json_string(vb->tag_id));
    if (rims)
        json_object_set_new(c, "rims", rims);
    return c;
}

veil_result veil_nvgpu_result(const veil_nvgpu_decoded *d, const veil_verdict *v,
                              const veil_nvgpu_appraisal *a, const veil_nvgpu_rim *driver,
                              const veil_nvgpu_rim *vbios, const veil_nvgpu_policy *p,
                              unsigned gpu_index, veil_ear *ear)
{
    VEIL_ENSURE(v != NULL && ear != NULL, VEIL_E_USAGE, "nvgpu result: NULL argument");
    memset(ear, 0, sizeof *ear);
    snprintf(ear->submod, sizeof ear->submod, "gpu%u", gpu_index);
    snprintf(ear->policy_id, sizeof ear->policy_id, "%s", p ? p->id : "default");
    ear->simulated = v->simulated || (d && d->simulated);
    if (!veil_verdict_accepted(v))
        snprintf(ear->failed_check, sizeof ear->failed_check, "%s", veil_check_name(v->failed));
    fill_vector(d, v, a, ear);
    if (!d || !d->have_report)
        return VEIL_OK;
    json_t *c = claims_json(d, a, driver, vbios);
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "nvgpu result: cannot build the claims");
    ear->claims_json = veil_json_dump(c);
    json_decref(c);
    VEIL_ENSURE(ear->claims_json != NULL, VEIL_E_NOMEM,
                "nvgpu result: cannot serialise the claims");
    return VEIL_OK;
}
