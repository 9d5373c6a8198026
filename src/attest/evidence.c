/* The evidence bundle (veil/evidence.h): JSON with base64 parts. */
#include <jansson.h>
#include <string.h>

#include "veil/base64.h"
#include "veil/evidence.h"

typedef struct part {
    const char *name;
    size_t offset; /* of the veil_buf within veil_evidence */
} part;

#define PART(member)                                                                               \
    {                                                                                              \
#member, offsetof(veil_evidence, member)                                                   \
    }
static const part top_parts[] = {PART(report), PART(hcl_report), PART(cert_table)};
static const part cert_parts[] = {PART(vcek), PART(vlek), PART(ask), PART(ark), PART(crl)};

static veil_buf *part_buf(veil_evidence *ev, const part *p)
{
    return (veil_buf *)((uint8_t *)ev + p->offset);
}

void veil_evidence_init(veil_evidence *ev)
{
    memset(ev, 0, sizeof *ev);
    for (size_t i = 0; i < 3; i++)
        veil_buf_init(part_buf(ev, &top_parts[i]), VEIL_EVIDENCE_MAX_PART);
    for (size_t i = 0; i < 5; i++)
        veil_buf_init(part_buf(ev, &cert_parts[i]), VEIL_EVIDENCE_MAX_PART);
}

void veil_evidence_free(veil_evidence *ev)
{
    for (size_t i = 0; i < 3; i++)
        veil_buf_free(part_buf(ev, &top_parts[i]));
    for (size_t i = 0; i < 5; i++)
        veil_buf_free(part_buf(ev, &cert_parts[i]));
}

static veil_result decode_part(json_t *obj, const part *p, veil_evidence *ev, const char *bad)
{
    json_t *v = json_object_get(obj, p->name);
    if (!v)
        return VEIL_OK;
    VEIL_ENSURE(json_is_string(v), VEIL_E_PROTOCOL, bad);
    veil_result r =
        veil_base64_decode(json_string_value(v), json_string_length(v), part_buf(ev, p));
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, bad);
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
    VEIL_ENSURE(!strcmp(out->tee, "sev-snp"), VEIL_E_UNSUPPORTED,
                "evidence: \"tee\" must be \"sev-snp\" (the only TEE this version verifies)");
    out->claims_simulated = json_is_true(json_object_get(root, "simulated"));
    VEIL_GUARD(decode_part(root, &top_parts[0], out, "evidence: \"report\" is not valid base64"));
    VEIL_GUARD(
        decode_part(root, &top_parts[1], out, "evidence: \"hcl_report\" is not valid base64"));
    VEIL_GUARD(
        decode_part(root, &top_parts[2], out, "evidence: \"cert_table\" is not valid base64"));
    VEIL_ENSURE((out->report.len > 0) != (out->hcl_report.len > 0), VEIL_E_PROTOCOL,
                "evidence: exactly one of \"report\" and \"hcl_report\" is required");
    json_t *certs = json_object_get(root, "certs");
    if (certs) {
        VEIL_ENSURE(json_is_object(certs), VEIL_E_PROTOCOL, "evidence: \"certs\" is not an object");
        for (size_t i = 0; i < 5; i++)
            VEIL_GUARD(decode_part(certs, &cert_parts[i], out,
                                   "evidence: a member of \"certs\" is not valid base64"));
    }
    return VEIL_OK;
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
    for (size_t i = 0; i < 3; i++)
        VEIL_TRY(r,
                 put_part(root, top_parts[i].name, part_buf((veil_evidence *)ev, &top_parts[i])));
    for (size_t i = 0; i < 5; i++)
        VEIL_TRY(
            r, put_part(certs, cert_parts[i].name, part_buf((veil_evidence *)ev, &cert_parts[i])));
    if (json_object_size(certs) > 0)
        json_object_set(root, "certs", certs);
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
