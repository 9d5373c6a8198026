/* libFuzzer target for the Intel TDX quote: the decoder, the PCK chain and
 * its SGX extension, the verifier, the appraisal and the attestation result.
 *
 * Any input either fails to decode with a protocol error (and an emptied
 * output) or decodes to a quote whose parts lie inside the input exactly as
 * its length fields say: header + body + u32 + signature data = quote_len,
 * quote_len + trailing = size, and decoding the quote alone gives the same
 * fields. The verifier then runs (at a fixed time, with and without a
 * policy) and must never return an error or leak, whatever the certificates
 * hold. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/tdx.h"

#define AT 1772323200 /* 2026-03-01T00:00:00Z: the sample chains are valid */

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

static void check_decoded(const uint8_t *data, size_t size, const veil_tdx_quote *q)
{
    static veil_tdx_quote again;
    check(q->raw == data);
    check(q->quote_len + q->trailing_len == size);
    check(q->header.version == 4 || q->header.version == 5);
    check(q->body_size == (q->body_type == 3 ? 648u : 584u));
    check(q->signed_len == (q->header.version == 4 ? 632u : 54u + q->body_size));
    check(q->quote_len == q->signed_len + 4 + q->sig_data_len);
    check(q->sig_data_len == 134 + q->cert_size);
    check(q->cert_size == 384 + 64 + 2 + q->qe_auth_data_len + 6 + q->pck_cert_size);
    check(q->cert_type == 6 && q->pck_cert_type == 5);
    check(q->pck_chain_len > 0 && q->pck_chain_len <= q->pck_cert_size);
    check(q->pck_chain[q->pck_chain_len - 1] != 0);
    check(q->pck_chain + q->pck_cert_size == data + q->quote_len);
    check(q->trailing_zero == all_zero(data + q->quote_len, q->trailing_len));
    check(!q->tcb.evaluated && q->tcb.status == VEIL_TDX_TCB_UNKNOWN && !q->pck.present);
    /* the quote alone decodes to the same fields */
    check(veil_ok(veil_tdx_quote_decode(data, q->quote_len, &again)));
    check(again.trailing_len == 0);
    check(veil_public_equal(&again.body, sizeof again.body, &q->body, sizeof q->body));
    check(veil_public_equal(&again.qe_report, sizeof again.qe_report, &q->qe_report,
                            sizeof q->qe_report));
    check(veil_public_equal(&again.header, sizeof again.header, &q->header, sizeof q->header));
}

static void run_verifier(const uint8_t *data, size_t size)
{
    static const char policy[] = "{\"require_sept_ve_disable\":true,\"min_tcb_status\":"
                                 "\"OutOfDate\",\"replay\":true}";
    veil_verdict v;
    veil_ear ear;
    check(veil_ok(veil_tdx_verify_files(data, size, NULL, 0, NULL, 0, NULL, 0, AT, &v, &ear)));
    check(v.failed != VEIL_CHECK_UNCHECKED);
    check(veil_verdict_accepted(&v) == (ear.status != VEIL_EAR_CONTRAINDICATED));
    veil_ear_free(&ear);
    check(veil_ok(veil_tdx_verify_files(data, size, NULL, 0, NULL, 0, policy, sizeof policy - 1, AT,
                                        &v, &ear)));
    check(!veil_verdict_accepted(&v)); /* no log, no collateral: refused */
    veil_ear_free(&ear);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_tdx_quote q;
    veil_result r = veil_tdx_quote_decode(data, size, &q);
    if (!veil_ok(r)) {
        check(r.cls == VEIL_E_PROTOCOL && r.msg != NULL);
        check(q.raw == NULL && q.quote_len == 0 && all_zero(&q.body, sizeof q.body));
        return 0;
    }
    check_decoded(data, size, &q);
    run_verifier(data, size);
    return 0;
}
