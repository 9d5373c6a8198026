/* The evidence bundle (veil/evidence.h): JSON with base64 parts. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "veil/base64.h"
#include "veil/evidence.h"

typedef struct part {
    const char *name;
    size_t offset; /* of the veil_buf within veil_evidence */
    size_t max;
} part;

#define PART(member, max)                                                                          \
    {                                                                                              \
#member, offsetof(veil_evidence, member), max                                              \
    }
#define N_TOP 6
#define N_CERT 5
static const part top_parts[N_TOP] = {
    PART(report, VEIL_EVIDENCE_MAX_PART),         PART(hcl_report, VEIL_EVIDENCE_MAX_PART),
    PART(cert_table, VEIL_EVIDENCE_MAX_PART),     PART(quote, VEIL_EVIDENCE_MAX_TDX_PART),
    PART(collateral, VEIL_EVIDENCE_MAX_TDX_PART), PART(event_log, VEIL_EVIDENCE_MAX_TDX_PART)};
static const part cert_parts[N_CERT] = {
    PART(vcek, VEIL_EVIDENCE_MAX_PART), PART(vlek, VEIL_EVIDENCE_MAX_PART),
    PART(ask, VEIL_EVIDENCE_MAX_PART), PART(ark, VEIL_EVIDENCE_MAX_PART),
    PART(crl, VEIL_EVIDENCE_MAX_PART)};
static const char *const cc_modes[] = {"on", "off", "devtools", "unknown"};

static veil_buf *part_buf(veil_evidence *ev, const part *p)
{
    return (veil_buf *)((uint8_t *)ev + p->offset);
}

void veil_evidence_init(veil_evidence *ev)
{
    memset(ev, 0, sizeof *ev);
    for (size_t i = 0; i < N_TOP; i++)
        veil_buf_init(part_buf(ev, &top_parts[i]), top_parts[i].max);
    for (size_t i = 0; i < N_CERT; i++)
        veil_buf_init(part_buf(ev, &cert_parts[i]), cert_parts[i].max);
    for (size_t i = 0; i < VEIL_EVIDENCE_MAX_GPUS; i++) {
        veil_buf_init(&ev->gpus[i].report, VEIL_EVIDENCE_MAX_GPU_REPORT);
        veil_buf_init(&ev->gpus[i].certs, VEIL_EVIDENCE_MAX_GPU_CERTS);
    }
}

void veil_evidence_free(veil_evidence *ev)
{
    for (size_t i = 0; i < N_TOP; i++)
        veil_buf_free(part_buf(ev, &top_parts[i]));
    for (size_t i = 0; i < N_CERT; i++)
        veil_buf_free(part_buf(ev, &cert_parts[i]));
    for (size_t i = 0; i < VEIL_EVIDENCE_MAX_GPUS; i++) {
        veil_buf_free(&ev->gpus[i].report);
        veil_buf_free(&ev->gpus[i].certs);
    }
}

static veil_result decode_b64(json_t *obj, const char *name, veil_buf *b, const char *bad)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return VEIL_OK;
    VEIL_ENSURE(json_is_string(v), VEIL_E_PROTOCOL, bad);
    veil_result r = veil_base64_decode(json_string_value(v), json_string_length(v), b);
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, bad);
    return VEIL_OK;
}

static veil_result decode_part(json_t *obj, const part *p, veil_evidence *ev, const char *bad)
{
    return decode_b64(obj, p->name, part_buf(ev, p), bad);
}

/* "gpus": 1..VEIL_EVIDENCE_MAX_GPUS objects {report, certs, cc_mode?}, in order. */
static veil_result parse_gpus(json_t *root, veil_evidence *out)
{
    json_t *gpus = json_object_get(root, "gpus");
    if (!gpus)
        return VEIL_OK;
    VEIL_ENSURE(json_is_array(gpus) && json_array_size(gpus) >= 1 &&
                    json_array_size(gpus) <= VEIL_EVIDENCE_MAX_GPUS,
                VEIL_E_PROTOCOL, "evidence: \"gpus\" must be an array of 1..16 entries");
    for (size_t i = 0; i < json_array_size(gpus); i++) {
        json_t *g = json_array_get(gpus, i);
        veil_evidence_gpu *e = &out->gpus[i];
        VEIL_ENSURE(json_is_object(g), VEIL_E_PROTOCOL,
                    "evidence: a \"gpus\" entry is not an object");
        VEIL_GUARD(decode_b64(g, "report", &e->report,
                              "evidence: a GPU \"report\" is not valid base64 (or too large)"));
        VEIL_GUARD(decode_b64(g, "certs", &e->certs,
                              "evidence: a GPU \"certs\" is not valid base64 (or too large)"));
        VEIL_ENSURE(e->report.len > 0 && e->certs.len > 0, VEIL_E_PROTOCOL,
                    "evidence: every \"gpus\" entry needs \"report\" and \"certs\"");
        json_t *cc = json_object_get(g, "cc_mode");
        if (cc) {
            bool known = false;
            for (size_t k = 0; json_is_string(cc) && k < 4; k++)
                known = known || !strcmp(json_string_value(cc), cc_modes[k]);
            VEIL_ENSURE(known, VEIL_E_PROTOCOL,
                        "evidence: GPU \"cc_mode\" must be \"on\", \"off\", \"devtools\" or "
                        "\"unknown\"");
            snprintf(e->cc_mode, sizeof e->cc_mode, "%s", json_string_value(cc));
        }
        out->n_gpus = i + 1;
    }
    return VEIL_OK;
}

static veil_result copy_name(json_t *obj, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return VEIL_OK;
    VEIL_ENSURE(json_is_string(v) && json_string_length(v) < cap, VEIL_E_PROTOCOL,
                "evidence: \"tee\" and \"attester\" must be short strings");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return VEIL_OK;
}

static veil_result parse_members(json_t *root, veil_evidence *out)
{
    VEIL_ENSURE(json_is_object(root), VEIL_E_PROTOCOL, "evidence: the bundle is not a JSON object");
    json_t *ver = json_object_get(root, "version");
    VEIL_ENSURE(json_is_integer(ver) && json_integer_value(ver) == 1, VEIL_E_PROTOCOL,
                "evidence: \"version\" must be 1");
    VEIL_GUARD(copy_name(root, "tee", out->tee, sizeof out->tee));
    VEIL_GUARD(copy_name(root, "attester", out->attester, sizeof out->attester));
    bool snp = !strcmp(out->tee, "sev-snp"), tdx = !strcmp(out->tee, "tdx");
    VEIL_ENSURE(snp || tdx, VEIL_E_UNSUPPORTED, "evidence: \"tee\" must be \"sev-snp\" or \"tdx\"");
    out->claims_simulated = json_is_true(json_object_get(root, "simulated"));
    static const char *const bad[N_TOP] = {
        "evidence: \"report\" is not valid base64 (or too large)",
        "evidence: \"hcl_report\" is not valid base64 (or too large)",
        "evidence: \"cert_table\" is not valid base64 (or too large)",
        "evidence: \"quote\" is not valid base64 (or too large)",
        "evidence: \"collateral\" is not valid base64 (or too large)",
        "evidence: \"event_log\" is not valid base64 (or too large)"};
    for (size_t i = 0; i < N_TOP; i++)
        VEIL_GUARD(decode_part(root, &top_parts[i], out, bad[i]));
    json_t *certs = json_object_get(root, "certs");
    if (certs) {
        VEIL_ENSURE(json_is_object(certs), VEIL_E_PROTOCOL, "evidence: \"certs\" is not an object");
        for (size_t i = 0; i < N_CERT; i++)
            VEIL_GUARD(decode_part(certs, &cert_parts[i], out,
                                   "evidence: a member of \"certs\" is not valid base64"));
    }
    if (snp) {
        VEIL_ENSURE((out->report.len > 0) != (out->hcl_report.len > 0), VEIL_E_PROTOCOL,
                    "evidence: exactly one of \"report\" and \"hcl_report\" is required");
        VEIL_ENSURE(!out->quote.len && !out->collateral.len && !out->event_log.len, VEIL_E_PROTOCOL,
                    "evidence: \"quote\", \"collateral\" and \"event_log\" belong to \"tdx\"");
    } else {
        VEIL_ENSURE(out->quote.len > 0, VEIL_E_PROTOCOL, "evidence: \"tdx\" needs \"quote\"");
        VEIL_ENSURE(!out->report.len && !out->hcl_report.len && !out->cert_table.len && !certs,
                    VEIL_E_PROTOCOL,
                    "evidence: \"report\", \"hcl_report\", \"cert_table\" and \"certs\" "
                    "belong to \"sev-snp\"");
    }
    return parse_gpus(root, out);
}

veil_result veil_evidence_parse(const uint8_t *json, size_t len, veil_evidence *out)
{
    veil_evidence_init(out);
    VEIL_ENSURE(len <= VEIL_EVIDENCE_MAX_JSON, VEIL_E_PROTOCOL,
                "evidence: bundle larger than 1 MiB");
    json_error_t err;
    json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &err);
    VEIL_ENSURE(root != NULL, VEIL_E_PROTOCOL, "evidence: the bundle is not valid JSON");
    veil_result r = parse_members(root, out);
    json_decref(root);
    if (!veil_ok(r)) {
        veil_evidence_free(out);
        veil_evidence_init(out);
    }
    return r;
}

static veil_result put_part(json_t *obj, const char *name, const veil_buf *b)
{
    if (b->len == 0)
        return VEIL_OK;
    veil_buf enc;
    veil_buf_init(&enc, 0);
    veil_result r = veil_base64_encode(b->data, b->len, &enc);
    if (veil_ok(r) && json_object_set_new(obj, name, json_stringn((char *)enc.data, enc.len)))
        r = VEIL_ERR(VEIL_E_NOMEM, "evidence: out of memory building JSON");
    veil_buf_free(&enc);
    return r;
}

static veil_result put_gpus(json_t *root, const veil_evidence *ev)
{
    veil_result r = VEIL_OK;
    json_t *arr = NULL;
    VEIL_ENSURE_GOTO(r, ev->n_gpus <= VEIL_EVIDENCE_MAX_GPUS, VEIL_E_USAGE,
                     "evidence: more than 16 GPUs");
    if (ev->n_gpus == 0)
        goto out;
    arr = json_array();
    VEIL_ENSURE_GOTO(r, arr != NULL, VEIL_E_NOMEM, "evidence: out of memory building JSON");
    for (size_t i = 0; i < ev->n_gpus; i++) {
        json_t *g = json_object();
        VEIL_ENSURE_GOTO(r, g && !json_array_append_new(arr, g), VEIL_E_NOMEM,
                         "evidence: out of memory building JSON");
        VEIL_ENSURE_GOTO(r, ev->gpus[i].report.len && ev->gpus[i].certs.len, VEIL_E_USAGE,
                         "evidence: a GPU entry without report or certs");
        VEIL_TRY(r, put_part(g, "report", &ev->gpus[i].report));
        VEIL_TRY(r, put_part(g, "certs", &ev->gpus[i].certs));
        if (ev->gpus[i].cc_mode[0])
            json_object_set_new(g, "cc_mode", json_string(ev->gpus[i].cc_mode));
    }
    VEIL_ENSURE_GOTO(r, !json_object_set(root, "gpus", arr), VEIL_E_NOMEM,
                     "evidence: out of memory building JSON");
out:
    json_decref(arr);
    return r;
}

veil_result veil_evidence_write(const veil_evidence *ev, veil_buf *out)
{
    veil_result r = VEIL_OK;
    json_t *root = json_pack("{s:i,s:s}", "version", 1, "tee", ev->tee[0] ? ev->tee : "sev-snp");
    json_t *certs = json_object();
    VEIL_ENSURE_GOTO(r, root && certs, VEIL_E_NOMEM, "evidence: out of memory building JSON");
    if (ev->attester[0])
        json_object_set_new(root, "attester", json_string(ev->attester));
    if (ev->claims_simulated)
        json_object_set_new(root, "simulated", json_true());
    for (size_t i = 0; i < N_TOP; i++)
        VEIL_TRY(r,
                 put_part(root, top_parts[i].name, part_buf((veil_evidence *)ev, &top_parts[i])));
    for (size_t i = 0; i < N_CERT; i++)
        VEIL_TRY(
            r, put_part(certs, cert_parts[i].name, part_buf((veil_evidence *)ev, &cert_parts[i])));
    if (json_object_size(certs) > 0)
        json_object_set(root, "certs", certs);
    VEIL_TRY(r, put_gpus(root, ev));
    size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    VEIL_TRY(r, veil_buf_reserve(out, n));
    VEIL_ENSURE_GOTO(
        r, json_dumpb(root, (char *)out->data + out->len, n, JSON_COMPACT | JSON_SORT_KEYS) == n,
        VEIL_E_INTERNAL, "evidence: JSON serialisation failed");
    out->len += n;
out:
    json_decref(certs);
    json_decref(root);
    return r;
}
