/* The NVIDIA GPU evidence: SPDM 1.1 GET_MEASUREMENTS request || MEASUREMENTS
 * response (layout in veil/nvgpu.h; notes/attestation-formats.md §3.1;
 * nvtrust attestation/spdm_msrt_req_msg.py and spdm_msrt_resp_msg.py).
 *
 * Decoded field by field through a bounded cursor. The measurement record
 * and the opaque data are length-prefixed: each opens a sub-cursor that must
 * be consumed exactly, and so does every block and every TLV. Stricter than
 * nvtrust where nvtrust would misparse or crash (repeated block indexes or TLV
 * types, unknown specifications, trailing bytes). */
#include <stdio.h>
#include <string.h>

#include "attest/nvgpu_internal.h"
#include "veil/cursor.h"
#include "veil/mem.h"
#include "veil/nvgpu.h"

/* request 37 + response header 8 + nonce 32 + opaque length 2 + signature 96 */
#define MIN_REPORT (VEIL_NVGPU_REQUEST_LEN + 8 + VEIL_NVGPU_NONCE_LEN + 2 + VEIL_NVGPU_SIG_LEN)
#define DMTF_HEADER 3 /* ValueType u8, ValueSize u16 */
#define MSRSCNT_ITEM 4

/* Any cursor failure becomes a protocol error naming the field. */
#define NEED(expr, msg)                                                                            \
    do {                                                                                           \
        if (!veil_ok(expr))                                                                        \
            return VEIL_ERR(VEIL_E_PROTOCOL, (msg));                                               \
    } while (0)

/* ---- request --------------------------------------------------------------------- */

static veil_result decode_request(veil_cursor *c, veil_nvgpu_report *r)
{
    NEED(veil_cursor_u8(c, &r->req_version), "nvgpu report: truncated request");
    NEED(veil_cursor_u8(c, &r->req_code), "nvgpu report: truncated request");
    NEED(veil_cursor_u8(c, &r->req_param1), "nvgpu report: truncated request");
    NEED(veil_cursor_u8(c, &r->req_param2), "nvgpu report: truncated request");
    NEED(veil_cursor_copy(c, r->nonce, sizeof r->nonce), "nvgpu report: truncated request nonce");
    NEED(veil_cursor_u8(c, &r->req_slot), "nvgpu report: truncated request SlotIDParam");
    VEIL_ENSURE(r->req_version == VEIL_NVGPU_SPDM_VERSION, VEIL_E_PROTOCOL,
                "nvgpu report: request SPDMVersion is not 0x11 (SPDM 1.1)");
    VEIL_ENSURE(r->req_code == VEIL_NVGPU_SPDM_GET_MEASUREMENTS, VEIL_E_PROTOCOL,
                "nvgpu report: request code is not GET_MEASUREMENTS (0xE0)");
    VEIL_ENSURE(r->req_param1 & 1, VEIL_E_PROTOCOL,
                "nvgpu report: request Param1 does not ask for a signature (bit 0 clear)");
    VEIL_ENSURE(r->req_param2 == 0xFF, VEIL_E_PROTOCOL,
                "nvgpu report: request Param2 is not 0xFF (all measurements)");
    return VEIL_OK;
}

/* ---- measurement record ------------------------------------------------------------ */

/* One block: {u8 Index, u8 Spec, u16 MeasurementSize, DMTF {u8 type, u16 size, value}}. */
static veil_result decode_block(veil_cursor *rec, veil_nvgpu_block *b, uint8_t seen[32])
{
    uint16_t msize = 0;
    veil_cursor m;
    NEED(veil_cursor_u8(rec, &b->index), "nvgpu report: truncated measurement block header");
    NEED(veil_cursor_u8(rec, &b->spec), "nvgpu report: truncated measurement block header");
    NEED(veil_cursor_u16le(rec, &msize), "nvgpu report: truncated measurement block header");
    VEIL_ENSURE(b->index != 0, VEIL_E_PROTOCOL, "nvgpu report: measurement block Index 0");
    VEIL_ENSURE(!(seen[b->index / 8] & (1u << (b->index % 8))), VEIL_E_PROTOCOL,
                "nvgpu report: two measurement blocks have the same Index");
    seen[b->index / 8] |= (uint8_t)(1u << (b->index % 8));
    VEIL_ENSURE(b->spec == VEIL_NVGPU_DMTF_SPEC, VEIL_E_PROTOCOL,
                "nvgpu report: a measurement block's MeasurementSpecification is not DMTF (1)");
    NEED(veil_cursor_sub(rec, msize, &m),
         "nvgpu report: a measurement block's MeasurementSize runs past the record");
    NEED(veil_cursor_u8(&m, &b->value_type), "nvgpu report: truncated DMTF measurement header");
    NEED(veil_cursor_u16le(&m, &b->value_size), "nvgpu report: truncated DMTF measurement header");
    VEIL_ENSURE(b->value_size <= VEIL_NVGPU_VALUE_MAX, VEIL_E_PROTOCOL,
                "nvgpu report: a DMTF measurement value is larger than 64 bytes");
    VEIL_ENSURE((size_t)msize == DMTF_HEADER + (size_t)b->value_size, VEIL_E_PROTOCOL,
                "nvgpu report: a block's MeasurementSize is not 3 + DMTF ValueSize");
    NEED(veil_cursor_copy(&m, b->value, b->value_size),
         "nvgpu report: truncated DMTF measurement value");
    return veil_cursor_expect_end(&m, "nvgpu report: bytes after a DMTF measurement value");
}

static veil_result decode_record(veil_cursor *c, veil_nvgpu_report *r)
{
    uint8_t l1[3];
    uint8_t seen[32] = {0};
    veil_cursor rec;
    NEED(veil_cursor_u8(c, &r->version), "nvgpu report: truncated response header");
    NEED(veil_cursor_u8(c, &r->code), "nvgpu report: truncated response header");
    NEED(veil_cursor_u8(c, &r->param1), "nvgpu report: truncated response header");
    NEED(veil_cursor_u8(c, &r->param2), "nvgpu report: truncated response header");
    NEED(veil_cursor_u8(c, &r->n_blocks), "nvgpu report: truncated response NumberOfBlocks");
    NEED(veil_cursor_copy(c, l1, 3), "nvgpu report: truncated MeasurementRecordLength");
    VEIL_ENSURE(r->version == VEIL_NVGPU_SPDM_VERSION, VEIL_E_PROTOCOL,
                "nvgpu report: response SPDMVersion is not 0x11 (SPDM 1.1)");
    VEIL_ENSURE(r->code == VEIL_NVGPU_SPDM_MEASUREMENTS, VEIL_E_PROTOCOL,
                "nvgpu report: response code is not MEASUREMENTS (0x60)");
    VEIL_ENSURE(r->n_blocks > 0, VEIL_E_PROTOCOL, "nvgpu report: no measurement blocks");
    r->record_len = (uint32_t)l1[0] | (uint32_t)l1[1] << 8 | (uint32_t)l1[2] << 16;
    NEED(veil_cursor_sub(c, r->record_len, &rec),
         "nvgpu report: MeasurementRecordLength runs past the report");
    for (size_t i = 0; i < r->n_blocks; i++)
        VEIL_GUARD(decode_block(&rec, &r->blocks[i], seen));
    return veil_cursor_expect_end(
        &rec, "nvgpu report: MeasurementRecordLength does not match NumberOfBlocks blocks");
}

/* ---- opaque data ---------------------------------------------------------------------- */

/* A NUL-terminated (or NUL-padded) printable ASCII string of at most 63
 * characters; only NULs may follow the first NUL. */
static veil_result opaque_string(const uint8_t *p, size_t n, char out[VEIL_NVGPU_STR_MAX],
                                 const char *bad)
{
    size_t len = 0;
    while (len < n && p[len] != 0)
        len++;
    VEIL_ENSURE(len < VEIL_NVGPU_STR_MAX, VEIL_E_PROTOCOL, bad);
    for (size_t i = 0; i < len; i++)
        VEIL_ENSURE(p[i] >= 0x20 && p[i] < 0x7F, VEIL_E_PROTOCOL, bad);
    for (size_t i = len; i < n; i++)
        VEIL_ENSURE(p[i] == 0, VEIL_E_PROTOCOL, bad);
    memcpy(out, p, len);
    out[len] = '\0';
    return VEIL_OK;
}

/* nvtrust utils.format_vbios_version: the 8 bytes read as a little-endian
 * number, hex "0000000196005e00"; its low half "96005e00" in byte pairs,
 * then the byte before it: "96.00.5e.00.01". */
static void format_vbios(const uint8_t v[8], char out[24])
{
    snprintf(out, 24, "%02x.%02x.%02x.%02x.%02x", v[3], v[2], v[1], v[0], v[4]);
}

static veil_result opaque_fixed(const uint8_t *p, size_t n, size_t want, uint8_t *out,
                                const char *bad)
{
    VEIL_ENSURE(n == want, VEIL_E_PROTOCOL, bad);
    memcpy(out, p, n);
    return VEIL_OK;
}

static veil_result opaque_msrscnt(const uint8_t *p, size_t n, veil_nvgpu_opaque *o)
{
    veil_cursor c = veil_cursor_init(p, n);
    VEIL_ENSURE(n % MSRSCNT_ITEM == 0 && n / MSRSCNT_ITEM <= VEIL_NVGPU_MAX_BLOCKS, VEIL_E_PROTOCOL,
                "nvgpu report: opaque MSRSCNT is not a list of at most 255 u32 counts");
    o->n_msrscnt = n / MSRSCNT_ITEM;
    for (size_t i = 0; i < o->n_msrscnt; i++)
        NEED(veil_cursor_u32le(&c, &o->msrscnt[i]), "nvgpu report: truncated opaque MSRSCNT");
    return VEIL_OK;
}

/* Interpret the TLVs veil uses; the rest are kept as (type, offset, length). */
static veil_result opaque_field(uint16_t type, const uint8_t *p, size_t n, veil_nvgpu_opaque *o)
{
    uint8_t b2[2];
    switch (type) {
    case VEIL_NVGPU_OPAQUE_DRIVER_VERSION:
        o->has_driver_version = true;
        return opaque_string(p, n, o->driver_version,
                             "nvgpu report: opaque DRIVER_VERSION is not a short ASCII string");
    case VEIL_NVGPU_OPAQUE_VBIOS_VERSION:
        o->has_vbios_version = true;
        VEIL_GUARD(opaque_fixed(p, n, 8, o->vbios_raw,
                                "nvgpu report: opaque VBIOS_VERSION is not 8 bytes"));
        format_vbios(o->vbios_raw, o->vbios_version);
        return VEIL_OK;
    case VEIL_NVGPU_OPAQUE_FWID:
        o->has_fwid = true;
        return opaque_fixed(p, n, VEIL_NVGPU_FWID_LEN, o->fwid,
                            "nvgpu report: opaque FWID is not 48 bytes");
    case VEIL_NVGPU_OPAQUE_NVDEC0_STATUS:
        o->has_nvdec0_status = true;
        return opaque_fixed(p, n, 1, &o->nvdec0_status,
                            "nvgpu report: opaque NVDEC0_STATUS is not 1 byte");
    case VEIL_NVGPU_OPAQUE_FEATURE_FLAG:
        o->has_feature_flag = true;
        VEIL_GUARD(opaque_fixed(p, n, 2, b2, "nvgpu report: opaque FEATURE_FLAG is not 2 bytes"));
        o->feature_flag = (uint16_t)(b2[0] | b2[1] << 8);
        return VEIL_OK;
    case VEIL_NVGPU_OPAQUE_MSRSCNT: return opaque_msrscnt(p, n, o);
    case VEIL_NVGPU_OPAQUE_PROJECT:
        return opaque_string(p, n, o->project, "nvgpu report: opaque PROJECT is not a string");
    case VEIL_NVGPU_OPAQUE_PROJECT_SKU:
        return opaque_string(p, n, o->project_sku,
                             "nvgpu report: opaque PROJECT_SKU is not a string");
    case VEIL_NVGPU_OPAQUE_PROJECT_SKU_MOD:
        return opaque_string(p, n, o->project_sku_mod,
                             "nvgpu report: opaque PROJECT_SKU_MOD is not a string");
    case VEIL_NVGPU_OPAQUE_CHIP_SKU:
        return opaque_string(p, n, o->chip_sku, "nvgpu report: opaque CHIP_SKU is not a string");
    case VEIL_NVGPU_OPAQUE_CHIP_SKU_MOD:
        return opaque_string(p, n, o->chip_sku_mod,
                             "nvgpu report: opaque CHIP_SKU_MOD is not a string");
    default: return VEIL_OK;
    }
}

static bool type_seen(const veil_nvgpu_opaque *o, uint16_t type)
{
    for (size_t i = 0; i < o->n_tlvs; i++)
        if (o->tlvs[i].type == type)
            return true;
    return false;
}

/* OpaqueLength u16, then TLVs {u16 type, u16 size, value} filling it exactly. */
static veil_result decode_opaque(veil_cursor *c, veil_nvgpu_report *r)
{
    veil_cursor od;
    veil_nvgpu_opaque *o = &r->opaque;
    NEED(veil_cursor_copy(c, r->response_nonce, sizeof r->response_nonce),
         "nvgpu report: truncated response nonce");
    NEED(veil_cursor_u16le(c, &r->opaque_len), "nvgpu report: truncated OpaqueLength");
    NEED(veil_cursor_sub(c, r->opaque_len, &od), "nvgpu report: OpaqueLength runs past the report");
    while (!veil_cursor_at_end(&od)) {
        uint16_t type = 0, size = 0;
        const uint8_t *val = NULL;
        NEED(veil_cursor_u16le(&od, &type), "nvgpu report: truncated opaque data TLV header");
        NEED(veil_cursor_u16le(&od, &size), "nvgpu report: truncated opaque data TLV header");
        NEED(veil_cursor_view(&od, size, &val),
             "nvgpu report: an opaque data TLV runs past OpaqueLength");
        VEIL_ENSURE(o->n_tlvs < VEIL_NVGPU_MAX_TLVS, VEIL_E_PROTOCOL,
                    "nvgpu report: more than 64 opaque data TLVs");
        VEIL_ENSURE(!type_seen(o, type), VEIL_E_PROTOCOL,
                    "nvgpu report: an opaque data TLV type occurs twice");
        /* val points into r->raw (the cursor runs over the copy), so the
         * offset is exact and below VEIL_NVGPU_MAX_REPORT. */
        veil_nvgpu_tlv *t = &o->tlvs[o->n_tlvs++];
        t->type = type;
        t->len = size;
        t->off = (uint16_t)(val - r->raw);
        VEIL_GUARD(opaque_field(type, val, size, o));
    }
    return VEIL_OK;
}

/* ---- the whole evidence --------------------------------------------------------------- */

static veil_result decode(veil_nvgpu_report *r)
{
    veil_cursor c = veil_cursor_init(r->raw, r->raw_len);
    VEIL_GUARD(decode_request(&c, r));
    VEIL_GUARD(decode_record(&c, r));
    VEIL_GUARD(decode_opaque(&c, r));
    r->signed_len = c.off;
    NEED(veil_cursor_copy(&c, r->signature, sizeof r->signature),
         "nvgpu report: truncated signature (96 bytes after the opaque data)");
    return veil_cursor_expect_end(&c, "nvgpu report: bytes after the 96-byte signature");
}

veil_result veil_nvgpu_report_decode(const uint8_t *p, size_t n, veil_nvgpu_report *out)
{
    veil_result res = VEIL_OK;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "nvgpu report: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "nvgpu report: NULL input with a length");
    VEIL_ENSURE_GOTO(res, n >= MIN_REPORT, VEIL_E_PROTOCOL,
                     "nvgpu report: truncated (shorter than request, header, nonce and "
                     "signature)");
    VEIL_ENSURE_GOTO(res, n <= VEIL_NVGPU_MAX_REPORT, VEIL_E_PROTOCOL,
                     "nvgpu report: larger than 8192 bytes (NVML's report buffer)");
    memcpy(out->raw, p, n);
    out->raw_len = n;
    VEIL_TRY(res, decode(out));
    VEIL_ENSURE_GOTO(res, out->signed_len + VEIL_NVGPU_SIG_LEN == n, VEIL_E_INTERNAL,
                     "nvgpu report: signed length inconsistent");
out:
    if (!veil_ok(res))
        memset(out, 0, sizeof *out);
    return res;
}

const veil_nvgpu_block *veil_nvgpu_report_block(const veil_nvgpu_report *r, unsigned index)
{
    for (size_t i = 0; r && i < r->n_blocks; i++)
        if (r->blocks[i].index == index)
            return &r->blocks[i];
    return NULL;
}

const uint8_t *veil_nvgpu_report_tlv(const veil_nvgpu_report *r, uint16_t type, size_t *len)
{
    for (size_t i = 0; r && i < r->opaque.n_tlvs; i++) {
        const veil_nvgpu_tlv *t = &r->opaque.tlvs[i];
        if (t->type == type) {
            if (len)
                *len = t->len;
            return r->raw + t->off;
        }
    }
    if (len)
        *len = 0;
    return NULL;
}
