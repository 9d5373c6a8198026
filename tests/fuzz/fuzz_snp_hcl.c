/* libFuzzer target for the Azure HCL report wrapper.
 *
 * Any input either fails with a protocol error (and an emptied output) or
 * yields views inside the input at the fixed offsets with consistent sizes;
 * when the carried SNP report decodes, the REPORT_DATA binding check runs
 * and records exactly one RUNTIME_DATA result without an error. Any
 * violation aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "veil/attest.h"
#include "veil/snp.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_snp_report r;
    static veil_verdict v;
    veil_snp_hcl h;
    veil_result res = veil_snp_hcl_decode(data, size, &h);
    if (!veil_ok(res)) {
        check(res.cls == VEIL_E_PROTOCOL && res.msg != NULL);
        check(h.report == NULL && h.claims == NULL && h.claims_len == 0);
        return 0;
    }
    check(h.report == data + VEIL_SNP_HCL_REPORT_OFFSET);
    check(h.claims == data + VEIL_SNP_HCL_CLAIMS_OFFSET);
    check(h.report_size <= size);
    check((uint64_t)VEIL_SNP_HCL_CLAIMS_OFFSET + h.claims_len == h.report_size);
    check(h.hash_type >= VEIL_SNP_HCL_HASH_SHA256 && h.hash_type <= VEIL_SNP_HCL_HASH_SHA512);
    if (!veil_ok(veil_snp_report_decode(h.report, VEIL_SNP_REPORT_SIZE, &r)))
        return 0;
    veil_verdict_init(&v);
    check(veil_ok(veil_snp_hcl_check_binding(&h, &r, &v)));
    check(v.n_trace == 1 && v.trace[0].check == VEIL_CHECK_RUNTIME_DATA);
    return 0;
}
