/* Azure confidential-VM "HCL report": the paravisor's wrapper around an SNP
 * report whose REPORT_DATA binds a runtime-claims JSON (the vTPM keys, VM
 * configuration, user data). Layout as observed on real Azure hardware
 * (shared/testdata/attestation/snp-milan-v2-azure-hcl/PROVENANCE.md; parsed
 * the same way by confidential-containers/trustee az-snp-vtpm):
 *
 *   0x000 "HCLA" | u32 version | u32 report_size | u32 request_type | u32 status | 12 reserved
 *   0x020 SNP ATTESTATION_REPORT (0x4A0 bytes)
 *   0x4C0 IGVM request data: u32 data_size | u32 version | u32 report_type |
 *         u32 hash_type | u32 variable_data_size
 *   0x4D4 runtime claims, variable_data_size bytes
 *   report_size = 0x4C0 + data_size; data_size = 20 + variable_data_size; the
 *   buffer may carry zero padding after report_size (ignored). */
#include <stdio.h>
#include <string.h>

#include "crypto/x509.h"
#include "veil/cursor.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/snp.h"

enum {
    HCL_MAGIC_LEN = 4,
    HCL_RESERVED_LEN = 12,
    IGVM_HEADER_LEN = VEIL_SNP_HCL_CLAIMS_OFFSET - VEIL_SNP_HCL_IGVM_OFFSET, /* 20 */
    IGVM_REPORT_TYPE_SNP = 2,
};

_Static_assert(VEIL_SNP_HCL_IGVM_OFFSET == VEIL_SNP_HCL_REPORT_OFFSET + VEIL_SNP_REPORT_SIZE,
               "IGVM data follows the report");

static veil_result decode(veil_cursor *c, size_t n, veil_snp_hcl *h)
{
    const uint8_t *magic;
    uint32_t var_size;
    VEIL_GUARD(veil_cursor_view(c, HCL_MAGIC_LEN, &magic));
    VEIL_ENSURE(veil_public_equal(magic, HCL_MAGIC_LEN, "HCLA", HCL_MAGIC_LEN), VEIL_E_PROTOCOL,
                "hcl report: bad magic (expected \"HCLA\")");
    VEIL_GUARD(veil_cursor_u32le(c, &h->version));
    VEIL_GUARD(veil_cursor_u32le(c, &h->report_size));
    VEIL_GUARD(veil_cursor_u32le(c, &h->request_type));
    VEIL_GUARD(veil_cursor_u32le(c, &h->status));
    VEIL_GUARD(veil_cursor_skip(c, HCL_RESERVED_LEN));
    VEIL_ENSURE(c->off == VEIL_SNP_HCL_REPORT_OFFSET, VEIL_E_INTERNAL, "hcl report: bad offset");
    VEIL_GUARD(veil_cursor_view(c, VEIL_SNP_REPORT_SIZE, &h->report));
    VEIL_GUARD(veil_cursor_u32le(c, &h->igvm_data_size));
    VEIL_GUARD(veil_cursor_u32le(c, &h->igvm_version));
    VEIL_GUARD(veil_cursor_u32le(c, &h->report_type));
    VEIL_GUARD(veil_cursor_u32le(c, &h->hash_type));
    VEIL_GUARD(veil_cursor_u32le(c, &var_size));
    VEIL_ENSURE(c->off == VEIL_SNP_HCL_CLAIMS_OFFSET, VEIL_E_INTERNAL, "hcl report: bad offset");
    VEIL_ENSURE(h->report_type == IGVM_REPORT_TYPE_SNP, VEIL_E_PROTOCOL,
                "hcl report: IGVM report_type is not 2 (SEV-SNP)");
    VEIL_ENSURE(h->hash_type >= VEIL_SNP_HCL_HASH_SHA256 &&
                    h->hash_type <= VEIL_SNP_HCL_HASH_SHA512,
                VEIL_E_PROTOCOL, "hcl report: unknown hash_type (1 SHA-256, 2 SHA-384, 3 SHA-512)");
    VEIL_ENSURE((uint64_t)h->igvm_data_size == (uint64_t)IGVM_HEADER_LEN + var_size,
                VEIL_E_PROTOCOL, "hcl report: IGVM data_size != 20 + variable_data_size");
    VEIL_ENSURE((uint64_t)h->report_size == (uint64_t)VEIL_SNP_HCL_IGVM_OFFSET + h->igvm_data_size,
                VEIL_E_PROTOCOL, "hcl report: report_size disagrees with the IGVM data_size");
    VEIL_ENSURE(h->report_size <= n, VEIL_E_PROTOCOL,
                "hcl report: truncated (report_size exceeds the data)");
    VEIL_GUARD(veil_cursor_view(c, var_size, &h->claims));
    h->claims_len = var_size;
    return VEIL_OK;
}

veil_result veil_snp_hcl_decode(const uint8_t *p, size_t n, veil_snp_hcl *out)
{
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "hcl report: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "hcl report: NULL input");
    VEIL_ENSURE(n >= VEIL_SNP_HCL_CLAIMS_OFFSET, VEIL_E_PROTOCOL,
                "hcl report: truncated (shorter than the 0x4D4-byte header and report)");
    veil_cursor c = veil_cursor_init(p, n);
    veil_result res = decode(&c, n, out);
    if (!veil_ok(res))
        memset(out, 0, sizeof *out);
    return res;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

veil_result veil_snp_hcl_check_binding(const veil_snp_hcl *hcl, const veil_snp_report *report,
                                       veil_verdict *v)
{
    static const struct {
        veil_digest_alg alg;
        const char *name;
    } algs[] = {
        [VEIL_SNP_HCL_HASH_SHA256] = {VEIL_DIGEST_SHA256, "SHA-256"},
        [VEIL_SNP_HCL_HASH_SHA384] = {VEIL_DIGEST_SHA384, "SHA-384"},
        [VEIL_SNP_HCL_HASH_SHA512] = {VEIL_DIGEST_SHA512, "SHA-512"},
    };
    uint8_t d[VEIL_DIGEST_MAX];
    char want[17], got[17];
    VEIL_ENSURE(hcl && report && v && hcl->report && (hcl->claims || !hcl->claims_len),
                VEIL_E_USAGE, "hcl binding: NULL argument");
    VEIL_ENSURE(hcl->hash_type >= VEIL_SNP_HCL_HASH_SHA256 &&
                    hcl->hash_type <= VEIL_SNP_HCL_HASH_SHA512,
                VEIL_E_USAGE, "hcl binding: unknown hash_type");
    const char *name = algs[hcl->hash_type].name;
    size_t dl = veil_digest_len(algs[hcl->hash_type].alg);
    if (!veil_public_equal(report->raw, VEIL_SNP_REPORT_SIZE, hcl->report, VEIL_SNP_REPORT_SIZE)) {
        veil_verdict_record(v, VEIL_CHECK_RUNTIME_DATA, false,
                            "the verified report is not the one the HCL report carries");
        return VEIL_OK;
    }
    VEIL_GUARD(veil_digest(algs[hcl->hash_type].alg, hcl->claims, hcl->claims_len, d, dl));
    bool bound = veil_ct_equal(report->report_data, d, dl);
    bool rest_zero = all_zero(report->report_data + dl, sizeof report->report_data - dl);
    veil_hex_encode(d, 8, want);
    veil_hex_encode(report->report_data, 8, got);
    if (!bound)
        veil_verdict_record(v, VEIL_CHECK_RUNTIME_DATA, false,
                            "REPORT_DATA[0:%zu] %s... != %s(runtime claims, %zu bytes) %s...", dl,
                            got, name, hcl->claims_len, want);
    else if (!rest_zero)
        veil_verdict_record(v, VEIL_CHECK_RUNTIME_DATA, false,
                            "REPORT_DATA[%zu:64] is not zero after the %s of the runtime claims",
                            dl, name);
    else
        veil_verdict_record(v, VEIL_CHECK_RUNTIME_DATA, true,
                            "REPORT_DATA[0:%zu] = %s(runtime claims, %zu bytes) %s..., rest zero",
                            dl, name, hcl->claims_len, want);
    return VEIL_OK;
}
