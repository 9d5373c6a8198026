/* Evidence bundles (JSON + base64) and appraisal policies: parse; what
 * parses must serialise and parse again to the same parts. */
#include <stdlib.h>

#include "veil/appraise.h"
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
            !same(&ev.vlek, &back.vlek) || !same(&ev.ask, &back.ask) || !same(&ev.ark, &back.ark))
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
