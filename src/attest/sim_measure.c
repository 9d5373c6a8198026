/* The simulated secure processor's launch measurement (veil/measure.h has
 * the algorithm): a manifest of the guest's files, then their contents, all as
 * SEV-SNP NORMAL pages chained through PAGE_INFO. Using SNP's chaining means a
 * verifier needs one replay routine for real and simulated guests. */
#include <string.h>

#include "crypto/digest.h"
#include "veil/cursor.h"
#include "veil/measure.h"
#include "veil/mem.h"

#define PAGE VEIL_MEASURE_PAGE
#define MANIFEST_MAX ((size_t)VEIL_SIM_MANIFEST_MAX_PAGES * PAGE)

/* veil_buf writes big-endian; the manifest is little-endian. */
static veil_result buf_le(veil_buf *b, uint64_t v, size_t n)
{
    uint8_t le[8];
    for (size_t i = 0; i < n; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return veil_buf_append(b, le, n);
}

/* Check the file list and that its manifest fits VEIL_SIM_MANIFEST_MAX_PAGES. */
static veil_result check_files(const veil_sim_image *files, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const veil_sim_image *f = &files[i];
        VEIL_ENSURE(f->name != NULL, VEIL_E_USAGE, "a guest file has no name");
        VEIL_ENSURE(f->data != NULL || f->len == 0, VEIL_E_USAGE, "a guest file has no data");
        /* strnlen bounds the walk: a longer name cannot fit anyway. */
        total += 4 + strnlen(f->name, MANIFEST_MAX) + 8 + VEIL_MEASUREMENT_LEN;
        VEIL_ENSURE(total <= MANIFEST_MAX, VEIL_E_USAGE,
                    "the guest's file list does not fit the 255-page manifest");
    }
    return VEIL_OK;
}

/* for each file: u32le name length | name | u64le size | SHA-384(contents) */
static veil_result encode_manifest(const veil_sim_image *files, size_t n, veil_buf *m)
{
    uint8_t h[VEIL_MEASUREMENT_LEN];
    for (size_t i = 0; i < n; i++) {
        const veil_sim_image *f = &files[i];
        size_t name_len = strlen(f->name);
        VEIL_GUARD(veil_sha384(f->data, f->len, h));
        VEIL_GUARD(buf_le(m, name_len, 4));
        VEIL_GUARD(veil_buf_append(m, f->name, name_len));
        VEIL_GUARD(buf_le(m, f->len, 8));
        VEIL_GUARD(veil_buf_append(m, h, sizeof h));
    }
    return VEIL_OK;
}

veil_result veil_sim_measure(const veil_sim_image *files, size_t n,
                             uint8_t out[VEIL_MEASUREMENT_LEN])
{
    veil_snp_gctx g;
    veil_buf m;
    uint64_t gpa = VEIL_SIM_CONTENT_GPA;
    veil_result res = VEIL_OK;

    memset(out, 0, VEIL_MEASUREMENT_LEN);
    VEIL_ENSURE(files != NULL && n >= 1, VEIL_E_USAGE, "a simulated guest needs an executable");
    veil_buf_init(&m, MANIFEST_MAX);
    veil_snp_gctx_init(&g, NULL);

    /* 1. The manifest, zero-padded, at 0x1000.. (below 0x100000). */
    VEIL_TRY(res, check_files(files, n));
    VEIL_TRY(res, encode_manifest(files, n, &m));
    VEIL_TRY(res, veil_snp_gctx_normal_pages(&g, VEIL_SIM_MANIFEST_GPA, m.data, m.len));

    /* 2. Each file's contents from 0x100000, each starting on a fresh page. */
    for (size_t i = 0; i < n; i++) {
        uint64_t pages = (files[i].len + PAGE - 1) / PAGE;
        VEIL_ENSURE_GOTO(res, pages <= (VEIL_SNP_VMSA_GPA - gpa) / PAGE, VEIL_E_USAGE,
                         "the guest's files exceed the guest address space");
        VEIL_TRY(res, veil_snp_gctx_normal_pages(&g, gpa, files[i].data, files[i].len));
        gpa += pages * PAGE;
    }
    memcpy(out, g.ld, VEIL_MEASUREMENT_LEN);
out:
    veil_buf_free(&m);
    return res;
}
