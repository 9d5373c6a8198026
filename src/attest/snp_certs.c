/* SEV-SNP extended-report certificate table (AMD GHCB spec 56421, MSG_REPORT_REQ
 * / SNP_GET_EXT_REPORT; go-sev-guest abi/abi.go CertTableHeaderEntry):
 *
 *   entry[i] = GUID[16] (RFC 4122 byte order) | u32le offset | u32le length
 *   ... terminated by an all-zero entry; blobs follow at the offsets, which
 *   count from the start of the table and must lie past the terminator. */
#include <string.h>

#include "veil/cursor.h"
#include "veil/mem.h"
#include "veil/snp.h"

enum { GUID_LEN = 16 };

/* The AMD GUIDs, as bytes in RFC 4122 order. */
static const uint8_t guid_vcek[GUID_LEN] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                            0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t guid_vlek[GUID_LEN] = {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                            0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};
static const uint8_t guid_ask[GUID_LEN] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                           0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t guid_ark[GUID_LEN] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                           0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};

typedef struct entry {
    const uint8_t *guid;
    uint32_t off;
    uint32_t len;
} entry;

/* Which slot of the table a GUID fills; NULL for GUIDs we do not use. */
static const uint8_t **slot(veil_snp_cert_table *t, const uint8_t *guid, size_t **len)
{
    static const uint8_t *const guids[4] = {guid_vcek, guid_vlek, guid_ask, guid_ark};
    const uint8_t **ptrs[4] = {&t->vcek, &t->vlek, &t->ask, &t->ark};
    size_t *lens[4] = {&t->vcek_len, &t->vlek_len, &t->ask_len, &t->ark_len};
    for (int i = 0; i < 4; i++)
        if (veil_public_equal(guid, GUID_LEN, guids[i], GUID_LEN)) {
            *len = lens[i];
            return ptrs[i];
        }
    return NULL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Read the entries up to and including the terminator. */
static veil_result read_entries(veil_cursor *c, entry *e, size_t *count)
{
    for (size_t i = 0; i <= VEIL_SNP_CERT_TABLE_MAX_ENTRIES; i++) {
        entry x;
        VEIL_ENSURE(veil_cursor_remaining(c) >= VEIL_SNP_CERT_TABLE_ENTRY_SIZE, VEIL_E_PROTOCOL,
                    "snp cert table: no all-zero terminating entry");
        VEIL_GUARD(veil_cursor_view(c, GUID_LEN, &x.guid));
        VEIL_GUARD(veil_cursor_u32le(c, &x.off));
        VEIL_GUARD(veil_cursor_u32le(c, &x.len));
        if (all_zero(x.guid, GUID_LEN)) {
            VEIL_ENSURE(x.off == 0 && x.len == 0, VEIL_E_PROTOCOL,
                        "snp cert table: terminating entry has a non-zero offset or length");
            *count = i;
            return VEIL_OK;
        }
        if (i == VEIL_SNP_CERT_TABLE_MAX_ENTRIES)
            break;
        e[i] = x;
    }
    return VEIL_ERR(VEIL_E_PROTOCOL, "snp cert table: too many entries (at most 64)");
}

veil_result veil_snp_cert_table_decode(const uint8_t *p, size_t n, veil_snp_cert_table *out)
{
    veil_result res = VEIL_OK;
    entry e[VEIL_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t count = 0;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "snp cert table: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "snp cert table: NULL input");
    veil_cursor c = veil_cursor_init(p, n);
    VEIL_TRY(res, read_entries(&c, e, &count));
    const uint64_t header = (uint64_t)(count + 1) * VEIL_SNP_CERT_TABLE_ENTRY_SIZE;
    for (size_t i = 0; i < count; i++) {
        VEIL_ENSURE_GOTO(res, e[i].len > 0, VEIL_E_PROTOCOL,
                         "snp cert table: an entry has length 0");
        VEIL_ENSURE_GOTO(res, e[i].off >= header, VEIL_E_PROTOCOL,
                         "snp cert table: an entry's offset points into the table header");
        VEIL_ENSURE_GOTO(res, (uint64_t)e[i].off + e[i].len <= n, VEIL_E_PROTOCOL,
                         "snp cert table: an entry extends past the end of the data");
        size_t *len = NULL;
        const uint8_t **ptr = slot(out, e[i].guid, &len);
        if (!ptr)
            continue; /* e.g. go-sev-guest's ExtraPlatformInfo */
        VEIL_ENSURE_GOTO(res, *ptr == NULL, VEIL_E_PROTOCOL,
                         "snp cert table: the same certificate GUID occurs twice");
        *ptr = p + e[i].off;
        *len = e[i].len;
    }
out:
    if (!veil_ok(res))
        memset(out, 0, sizeof *out);
    return res;
}

static veil_result put_entry(veil_buf *b, const uint8_t *guid, uint32_t off, uint32_t len)
{
    uint8_t le[8];
    for (unsigned i = 0; i < 4; i++) {
        le[i] = (uint8_t)(off >> (8 * i));
        le[4 + i] = (uint8_t)(len >> (8 * i));
    }
    VEIL_GUARD(veil_buf_append(b, guid, GUID_LEN));
    return veil_buf_append(b, le, sizeof le);
}

static veil_result encode(const veil_snp_cert_table *t, veil_buf *out)
{
    static const uint8_t zero[VEIL_SNP_CERT_TABLE_ENTRY_SIZE] = {0};
    const uint8_t *guids[4] = {guid_vcek, guid_vlek, guid_ask, guid_ark};
    const uint8_t *blobs[4] = {t->vcek, t->vlek, t->ask, t->ark};
    const size_t lens[4] = {t->vcek_len, t->vlek_len, t->ask_len, t->ark_len};
    size_t count = 0;
    for (int i = 0; i < 4; i++) {
        VEIL_ENSURE((blobs[i] == NULL) == (lens[i] == 0), VEIL_E_USAGE,
                    "snp cert table encode: a blob pointer and its length disagree");
        count += blobs[i] != NULL;
    }
    uint64_t off = (uint64_t)(count + 1) * VEIL_SNP_CERT_TABLE_ENTRY_SIZE;
    const size_t start = out->len;
    for (int i = 0; i < 4; i++) {
        if (!blobs[i])
            continue;
        VEIL_ENSURE(off + lens[i] <= UINT32_MAX, VEIL_E_USAGE,
                    "snp cert table encode: table larger than 4 GiB");
        VEIL_GUARD(put_entry(out, guids[i], (uint32_t)off, (uint32_t)lens[i]));
        off += lens[i];
    }
    VEIL_GUARD(veil_buf_append(out, zero, sizeof zero));
    for (int i = 0; i < 4; i++)
        if (blobs[i])
            VEIL_GUARD(veil_buf_append(out, blobs[i], lens[i]));
    VEIL_ENSURE(out->len - start == off, VEIL_E_INTERNAL, "snp cert table encode: size mismatch");
    return VEIL_OK;
}

veil_result veil_snp_cert_table_encode(const veil_snp_cert_table *t, veil_buf *out)
{
    VEIL_ENSURE(t != NULL && out != NULL, VEIL_E_USAGE, "snp cert table encode: NULL argument");
    const size_t start = out->len;
    veil_result res = encode(t, out);
    if (!veil_ok(res) && out->len > start)
        out->len = start; /* nothing half-written stays behind */
    return res;
}
