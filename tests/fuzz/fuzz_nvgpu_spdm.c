/* libFuzzer target for the NVIDIA GPU evidence decoder (SPDM 1.1
 * GET_MEASUREMENTS request || MEASUREMENTS response).
 *
 * Any input either fails to decode with a protocol error naming the report
 * (and an emptied output), or decodes to fields that this harness encodes
 * back, independently, into exactly the input bytes: request, header,
 * every block, the GPU nonce, every opaque TLV in order, the signature.
 * A decoded report then goes through the verifier's FORMAT path (with no
 * certificate chain: CHAIN must fail, nothing after it may run), the
 * appraisal against synthetic verified RIMs and a policy, and the EAR
 * claims. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/nvgpu.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* ---- an independent encoder --------------------------------------------------------- */

typedef struct out {
    uint8_t buf[VEIL_NVGPU_MAX_REPORT + 16];
    size_t n;
} out;

static void put(out *o, const void *p, size_t n)
{
    check(o->n + n <= sizeof o->buf);
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static void put8(out *o, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(o, &b, 1);
}

static void put16(out *o, unsigned v)
{
    put8(o, v & 0xFF);
    put8(o, (v >> 8) & 0xFF);
}

static void encode(const veil_nvgpu_report *r, out *o)
{
    o->n = 0;
    put8(o, r->req_version);
    put8(o, r->req_code);
    put8(o, r->req_param1);
    put8(o, r->req_param2);
    put(o, r->nonce, 32);
    put8(o, r->req_slot);
    put8(o, r->version);
    put8(o, r->code);
    put8(o, r->param1);
    put8(o, r->param2);
    put8(o, r->n_blocks);
    put8(o, r->record_len & 0xFF);
    put8(o, (r->record_len >> 8) & 0xFF);
    put8(o, (r->record_len >> 16) & 0xFF);
    for (size_t i = 0; i < r->n_blocks; i++) {
        const veil_nvgpu_block *b = &r->blocks[i];
        put8(o, b->index);
        put8(o, b->spec);
        put16(o, 3u + b->value_size);
        put8(o, b->value_type);
        put16(o, b->value_size);
        put(o, b->value, b->value_size);
    }
    put(o, r->response_nonce, 32);
    put16(o, r->opaque_len);
    for (size_t i = 0; i < r->opaque.n_tlvs; i++) {
        const veil_nvgpu_tlv *t = &r->opaque.tlvs[i];
        check((size_t)t->off + t->len <= r->raw_len);
        put16(o, t->type);
        put16(o, t->len);
        put(o, r->raw + t->off, t->len);
    }
    put(o, r->signature, VEIL_NVGPU_SIG_LEN);
}

static void check_decoded(const veil_nvgpu_report *r, const uint8_t *data, size_t size)
{
    static out o;
    check(r->raw_len == size && r->signed_len + VEIL_NVGPU_SIG_LEN == size);
    check(veil_public_equal(r->raw, size, data, size));
    check(r->req_version == 0x11 && r->version == 0x11 && r->n_blocks > 0);
    for (size_t i = 0; i < r->n_blocks; i++) {
        check(r->blocks[i].index != 0 && r->blocks[i].spec == 1);
        check(r->blocks[i].value_size <= VEIL_NVGPU_VALUE_MAX);
        check(veil_nvgpu_report_block(r, r->blocks[i].index) == &r->blocks[i]);
        for (size_t k = 0; k < i; k++)
            check(r->blocks[k].index != r->blocks[i].index);
    }
    const veil_nvgpu_opaque *op = &r->opaque;
    check(strlen(op->driver_version) < VEIL_NVGPU_STR_MAX && strlen(op->project) < 64);
    check(op->n_msrscnt <= VEIL_NVGPU_MAX_BLOCKS && op->n_tlvs <= VEIL_NVGPU_MAX_TLVS);
    encode(r, &o);
    check(o.n == size && veil_public_equal(o.buf, o.n, data, size));
}

/* ---- the layers above the decoder ------------------------------------------------------ */

static void rims(veil_nvgpu_rim *drv, veil_nvgpu_rim *vb, veil_nvgpu_rim_entry *entries)
{
    memset(drv, 0, sizeof *drv);
    memset(vb, 0, sizeof *vb);
    for (uint32_t i = 0; i < 40; i++) {
        entries[i].index = i;
        entries[i].active = true;
        entries[i].n_alts = 1 + i % 3;
        memset(entries[i].alts, (int)i, sizeof entries[i].alts);
    }
    drv->entries = entries;
    drv->n_entries = 20;
    drv->verified = true;
    memcpy(drv->colloquial_version, "545.00", 7);
    vb->entries = entries + 20;
    vb->n_entries = 20;
    vb->verified = true;
    memcpy(vb->colloquial_version, "96.00.5E.00.01", 15);
}

static void above(const uint8_t *data, size_t size)
{
    static veil_nvgpu_decoded d;
    static veil_nvgpu_rim_entry entries[40];
    veil_nvgpu_rim drv, vb;
    veil_nvgpu_policy p;
    veil_nvgpu_appraisal a;
    veil_verdict v;
    uint8_t nonce[32] = {0};

    /* verify: FORMAT passes, CHAIN fails (no chain), nothing else runs */
    veil_verdict_init(&v);
    check(veil_ok(veil_nvgpu_verify(data, size, NULL, 0, nonce, NULL, &d, &v)));
    check(d.have_report && v.n_trace == 2 && v.trace[0].check == VEIL_CHECK_FORMAT &&
          v.trace[0].passed && v.failed == VEIL_CHECK_CHAIN);

    /* appraise as if authentic */
    rims(&drv, &vb, entries);
    veil_nvgpu_policy_default(&p);
    p.n_measurements = 1;
    p.measurements[0].index = data[size - 1];
    p.measurements[0].n = 1;
    d.cc_mode = (veil_nvgpu_cc_mode)(data[size - 2] % 4);
    veil_verdict_init(&v);
    veil_nvgpu_appraise(&d, &drv, &vb, &p, &v, &a);
    check(a.matched <= a.golden && a.golden + a.skipped <= 41);
    check(a.n_mismatched <= a.golden - a.matched); /* a policy index may repeat a RIM one */
    for (size_t i = 1; i < a.n_mismatched; i++)
        check(a.mismatched[i - 1] < a.mismatched[i]);
    veil_verdict_finish(&v);
    veil_ear ear;
    check(veil_ok(veil_nvgpu_result(&d, &v, &a, &drv, &vb, &p, 0, &ear)));
    check(ear.claims_json != NULL);
    veil_ear_free(&ear);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_nvgpu_report r; /* 28 KB: off the stack */
    veil_result res = veil_nvgpu_report_decode(data, size, &r);
    if (!veil_ok(res)) {
        check(res.cls == VEIL_E_PROTOCOL && res.msg != NULL);
        check(!strncmp(res.msg, "nvgpu report: ", 14));
        check(all_zero(&r, sizeof r));
        return 0;
    }
    check_decoded(&r, data, size);
    above(data, size);
    return 0;
}
