/* OVMF footer table and SEV metadata parser (veil/measure.h,
 * notes/attestation-formats.md §1.8.3; virtee/sev-snp-measure ovmf.py;
 * edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm and
 * OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm).
 *
 * The image is untrusted. Every read goes through a veil_cursor window
 * (copy of the whole-image cursor, skip to an offset, sub-cursor of a length),
 * so an offset or size that points outside the image fails the cursor read
 * instead of reading out of bounds. The parser is stricter than sev-snp-measure:
 * the table must be exactly covered by its entries, the entries we use must
 * have exactly the data length edk2 emits, and each may appear only once.
 *
 * Layout, from the end of the image:
 *   [len-32, len)        reset vector etc. (not ours)
 *   [len-50, len-32)     footer entry: u16le table size | footer GUID
 *   [len-50-(size-18), len-50)  entries, each `data | u16le size | GUID`,
 *                        size counting data + 18, walked from the end
 * SEV metadata at len - offset: "ASEV" | u32le size | u32le version = 1 |
 *   u32le num_items | num_items x {u32le gpa, u32le size, u32le type},
 *   with size == 16 + 12 * num_items. */
#include <string.h>

#include "veil/cursor.h"
#include "veil/measure.h"
#include "veil/mem.h"

#define GUID_LEN 16
#define ENTRY_TRAILER (2 + GUID_LEN) /* u16le size | GUID */
#define FOOTER_TAIL 32               /* the table ends this far before the end */
#define META_HEADER_LEN 16
#define META_ITEM_LEN 12
#define PAGE_MASK 0xFFFu

/* GUIDs in the little-endian ("bytes_le", Microsoft) order they are stored in. */
static const uint8_t guid_footer[GUID_LEN] = {/* 96b582de-1fb2-45f7-baea-a366c55a082d */
                                              0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                              0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const uint8_t guid_sev_meta[GUID_LEN] = {/* dc886566-984a-4798-a75e-5585a7bf67cc */
                                                0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
                                                0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
static const uint8_t guid_reset[GUID_LEN] = {/* 00f771de-1a7e-4fcb-890e-68c77e2fb44e */
                                             0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
                                             0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};
static const uint8_t guid_hash_table[GUID_LEN] = {/* 7255371f-3a3b-4b04-927b-1da6efa8d454 */
                                                  0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
                                                  0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};

static veil_result perr(const char *msg) { return VEIL_ERR(VEIL_E_PROTOCOL, msg); }

/* A cursor over img[off, off+n), bounds-checked by the cursor itself. */
static veil_result window(const veil_cursor *img, size_t off, size_t n, veil_cursor *out)
{
    veil_cursor c = *img;
    VEIL_GUARD(veil_cursor_skip(&c, off));
    return veil_cursor_sub(&c, n, out);
}

static bool guid_is(const uint8_t g[GUID_LEN], const uint8_t want[GUID_LEN])
{
    return veil_public_equal(g, GUID_LEN, want, GUID_LEN);
}

/* SEV metadata: header at len - offset, items right after it. */
static veil_result parse_metadata(const veil_cursor *img, uint32_t offset, veil_ovmf_info *out)
{
    veil_cursor hdr, items;
    uint8_t sig[4];
    uint32_t size, version, num;
    size_t start;

    if (offset < META_HEADER_LEN || offset > img->len)
        return perr("OVMF SEV metadata offset points outside the image");
    start = img->len - offset;
    if (!veil_ok(window(img, start, META_HEADER_LEN, &hdr)))
        return perr("OVMF SEV metadata header is truncated");
    VEIL_GUARD(veil_cursor_copy(&hdr, sig, sizeof sig));
    VEIL_GUARD(veil_cursor_u32le(&hdr, &size));
    VEIL_GUARD(veil_cursor_u32le(&hdr, &version));
    VEIL_GUARD(veil_cursor_u32le(&hdr, &num));
    if (!veil_public_equal(sig, sizeof sig, "ASEV", 4))
        return perr("OVMF SEV metadata has a wrong signature (want \"ASEV\")");
    if (version != 1)
        return perr("OVMF SEV metadata version is not 1");
    if (num > VEIL_OVMF_MAX_SECTIONS)
        return perr("OVMF SEV metadata lists too many sections");
    if (size != META_HEADER_LEN + (size_t)num * META_ITEM_LEN)
        return perr("OVMF SEV metadata size does not match its item count");
    if (!veil_ok(window(img, start + META_HEADER_LEN, (size_t)num * META_ITEM_LEN, &items)))
        return perr("OVMF SEV metadata items run past the end of the image");

    for (uint32_t i = 0; i < num; i++) {
        veil_ovmf_section *s = &out->sections[i];
        VEIL_GUARD(veil_cursor_u32le(&items, &s->gpa));
        VEIL_GUARD(veil_cursor_u32le(&items, &s->size));
        VEIL_GUARD(veil_cursor_u32le(&items, &s->type));
        switch (s->type) {
        case VEIL_OVMF_SEC_SNP_SEC_MEM:
        case VEIL_OVMF_SEC_SNP_SECRETS:
        case VEIL_OVMF_SEC_CPUID:
        case VEIL_OVMF_SEC_SVSM_CAA:
        case VEIL_OVMF_SEC_SNP_KERNEL_HASHES: break;
        default: return perr("OVMF SEV metadata has an unknown section type");
        }
        if ((s->gpa & PAGE_MASK) != 0 || (s->size & PAGE_MASK) != 0 || s->size == 0)
            return perr("OVMF SEV metadata section is not a whole number of pages");
    }
    VEIL_GUARD(veil_cursor_expect_end(&items, "OVMF SEV metadata items not consumed"));
    out->n_sections = num;
    out->has_metadata = true;
    return VEIL_OK;
}

/* One table entry's data for a GUID we use: exactly `want` bytes, once. */
static veil_result take_u32s(veil_cursor *data, size_t want, bool *seen, uint32_t *a, uint32_t *b)
{
    if (*seen)
        return perr("OVMF footer table repeats an entry");
    if (veil_cursor_remaining(data) != want)
        return perr("OVMF footer table entry has the wrong data length");
    VEIL_GUARD(veil_cursor_u32le(data, a));
    if (b != NULL)
        VEIL_GUARD(veil_cursor_u32le(data, b));
    *seen = true;
    return VEIL_OK;
}

static veil_result parse_table(const veil_cursor *img, veil_ovmf_info *out)
{
    veil_cursor footer;
    uint8_t guid[GUID_LEN];
    uint16_t table_size;
    bool seen_meta = false;
    uint32_t meta_offset = 0;
    size_t end, table_start;

    if (img->len < FOOTER_TAIL + ENTRY_TRAILER)
        return perr("OVMF image is too small to hold a footer table");
    end = img->len - FOOTER_TAIL - ENTRY_TRAILER; /* start of the footer entry */
    VEIL_GUARD(window(img, end, ENTRY_TRAILER, &footer));
    VEIL_GUARD(veil_cursor_u16le(&footer, &table_size));
    VEIL_GUARD(veil_cursor_copy(&footer, guid, GUID_LEN));
    if (!guid_is(guid, guid_footer))
        return perr("OVMF image has no footer table (footer GUID not found)");
    if (table_size < ENTRY_TRAILER || (size_t)table_size - ENTRY_TRAILER > end)
        return perr("OVMF footer table size is out of range");
    table_start = end - (table_size - ENTRY_TRAILER);

    /* Walk the entries backwards from `end` down to `table_start`. */
    while (end > table_start) {
        veil_cursor trailer, data;
        uint16_t esize;
        if (end - table_start < ENTRY_TRAILER)
            return perr("OVMF footer table has a truncated entry");
        VEIL_GUARD(window(img, end - ENTRY_TRAILER, ENTRY_TRAILER, &trailer));
        VEIL_GUARD(veil_cursor_u16le(&trailer, &esize));
        VEIL_GUARD(veil_cursor_copy(&trailer, guid, GUID_LEN));
        if (esize < ENTRY_TRAILER || esize > end - table_start)
            return perr("OVMF footer table entry size is out of range");
        VEIL_GUARD(window(img, end - esize, esize - ENTRY_TRAILER, &data));
        if (guid_is(guid, guid_sev_meta))
            VEIL_GUARD(take_u32s(&data, 4, &seen_meta, &meta_offset, NULL));
        else if (guid_is(guid, guid_reset))
            VEIL_GUARD(take_u32s(&data, 4, &out->has_reset_eip, &out->reset_eip, NULL));
        else if (guid_is(guid, guid_hash_table))
            VEIL_GUARD(take_u32s(&data, 8, &out->has_hash_table, &out->hash_table_gpa,
                                 &out->hash_table_size));
        else if (guid_is(guid, guid_footer))
            return perr("OVMF footer table nests a footer entry");
        end -= esize;
    }
    if (seen_meta)
        VEIL_GUARD(parse_metadata(img, meta_offset, out));
    return VEIL_OK;
}

veil_result veil_ovmf_parse(const uint8_t *img, size_t len, veil_ovmf_info *out)
{
    veil_cursor c;
    veil_result res;

    if (out == NULL)
        return VEIL_ERR(VEIL_E_USAGE, "veil_ovmf_parse: no output");
    memset(out, 0, sizeof *out);
    if (img == NULL && len != 0)
        return VEIL_ERR(VEIL_E_USAGE, "veil_ovmf_parse: no image");
    c = veil_cursor_init(img, len);
    res = parse_table(&c, out);
    if (!veil_ok(res)) {
        memset(out, 0, sizeof *out);
        /* A cursor underrun here can only come from a bad offset or size. */
        if (res.cls != VEIL_E_PROTOCOL)
            res = perr("OVMF footer table is malformed");
    }
    return res;
}
