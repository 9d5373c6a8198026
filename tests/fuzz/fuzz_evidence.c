/* Evidence bundles (JSON + base64: SEV-SNP, TDX, GPU entries) and appraisal
 * policies: parse; what parses must serialise and parse again to the same
 * parts; the composite binding must hash any parsed bundle. */
#include <stdlib.h>

#include <string.h>

#include "veil/appraise.h"
#include "veil/composite.h"
#include "veil/evidence.h"
#include "veil/mem.h"

static int same(const veil_buf *a, const veil_buf *b)
{
    return veil_public_equal(a->data, a->len, b->data, b->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_evidence ev, back;
    if (veil_ok(veil_evidence_parse(data, size, &ev))) {
        veil_buf out;
        veil_buf_init(&out, 0);
        if (!veil_ok(veil_evidence_write(&ev, &out)) ||
            !veil_ok(veil_evidence_parse(out.data, out.len, &back)))
            abort();
        if (!same(&ev.report, &back.report) || !same(&ev.hcl_report, &back.hcl_report) ||
            !same(&ev.cert_table, &back.cert_table) || !same(&ev.vcek, &back.vcek) ||
            !same(&ev.vlek, &back.vlek) || !same(&ev.ask, &back.ask) || !same(&ev.ark, &back.ark) ||
            !same(&ev.crl, &back.crl) || !same(&ev.quote, &back.quote) ||
            !same(&ev.collateral, &back.collateral) || !same(&ev.event_log, &back.event_log) ||
            ev.n_gpus != back.n_gpus || strcmp(ev.tee, back.tee))
            abort();
        for (size_t i = 0; i < ev.n_gpus; i++)
            if (!same(&ev.gpus[i].report, &back.gpus[i].report) ||
                !same(&ev.gpus[i].certs, &back.gpus[i].certs) ||
                strcmp(ev.gpus[i].cc_mode, back.gpus[i].cc_mode))
                abort();
        static const uint8_t base[64] = {1};
        uint8_t rd[64];
        if (!veil_ok(veil_composite_report_data_ev(base, &ev, rd)))
            abort();
        veil_evidence_free(&back);
        veil_buf_free(&out);
    }
    veil_evidence_free(&ev);
    static veil_snp_policy p;
    veil_result r = veil_snp_policy_parse((const char *)data, size, &p);
    (void)r;
    return 0;
}
