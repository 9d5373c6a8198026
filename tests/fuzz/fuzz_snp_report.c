/* libFuzzer target for the SEV-SNP ATTESTATION_REPORT decoder.
 *
 * Any input either fails to decode with a protocol error (and an emptied
 * output) or decodes to a report that the encoder turns back into exactly
 * the input's first 0x4A0 bytes. The TCB fields decode in every product
 * layout and re-encode to themselves minus the reserved bytes. Any violation
 * aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/snp.h"

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

/* Bytes the TCB layout of `p` does not use are reserved. */
static uint64_t tcb_used_mask(veil_snp_product p)
{
    return p == VEIL_SNP_TURIN ? 0xFF000000FFFFFFFFull : 0xFFFF00000000FFFFull;
}

static void check_tcb(uint64_t raw)
{
    for (int p = VEIL_SNP_MILAN; p <= VEIL_SNP_TURIN; p++) {
        veil_snp_tcb t;
        check(veil_ok(veil_snp_tcb_decode(raw, (veil_snp_product)p, &t)));
        check(t.has_fmc == (p == VEIL_SNP_TURIN));
        check(veil_snp_tcb_encode(&t, (veil_snp_product)p) == (raw & tcb_used_mask(p)));
        check(veil_snp_tcb_at_least(&t, &t));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_snp_report r; /* 2.8 KB: off the stack */
    uint8_t again[VEIL_SNP_REPORT_SIZE];
    veil_result res = veil_snp_report_decode(data, size, &r);
    if (!veil_ok(res)) {
        check(res.cls == VEIL_E_PROTOCOL && res.msg != NULL);
        check(all_zero(&r, sizeof r));
        return 0;
    }
    check(size >= VEIL_SNP_REPORT_SIZE);
    check(r.version >= 2 && r.version <= 5 && r.signature_algo == 1);
    check(r.policy & VEIL_SNP_POLICY_RESERVED17);
    check(veil_public_equal(r.raw, VEIL_SNP_REPORT_SIZE, data, VEIL_SNP_REPORT_SIZE));
    check(veil_ok(veil_snp_report_encode(&r, again)));
    check(veil_public_equal(again, sizeof again, data, VEIL_SNP_REPORT_SIZE));
    veil_snp_product p = veil_snp_report_product(&r);
    check(r.version >= 3 || p == VEIL_SNP_PRODUCT_UNKNOWN);
    check(veil_snp_product_name(p) != NULL);
    check_tcb(r.current_tcb);
    check_tcb(r.reported_tcb);
    return 0;
}
