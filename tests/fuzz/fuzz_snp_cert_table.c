/* libFuzzer target for the SEV-SNP extended-report certificate table.
 *
 * Any input either fails with a protocol error (and an emptied output) or
 * yields blobs that lie inside the input past the table header; encoding
 * those blobs and decoding the result gives the same blobs, and that
 * encoding is a fixed point. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "veil/mem.h"
#include "veil/snp.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_view(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
    check((p == NULL) == (n == 0));
    if (!p)
        return;
    check(p >= data + 2 * VEIL_SNP_CERT_TABLE_ENTRY_SIZE && p + n <= data + size && n > 0);
}

static bool same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return veil_public_equal(a ? a : (const uint8_t *)"", an, b ? b : (const uint8_t *)"", bn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_snp_cert_table t, back, again_t;
    veil_buf enc, again;
    veil_result res = veil_snp_cert_table_decode(data, size, &t);
    if (!veil_ok(res)) {
        check(res.cls == VEIL_E_PROTOCOL && res.msg != NULL);
        check(!t.vcek && !t.vlek && !t.ask && !t.ark);
        return 0;
    }
    check_view(data, size, t.vcek, t.vcek_len);
    check_view(data, size, t.vlek, t.vlek_len);
    check_view(data, size, t.ask, t.ask_len);
    check_view(data, size, t.ark, t.ark_len);
    veil_buf_init(&enc, 0);
    veil_buf_init(&again, 0);
    check(veil_ok(veil_snp_cert_table_encode(&t, &enc)));
    check(veil_ok(veil_snp_cert_table_decode(enc.data, enc.len, &back)));
    check(same(back.vcek, back.vcek_len, t.vcek, t.vcek_len));
    check(same(back.vlek, back.vlek_len, t.vlek, t.vlek_len));
    check(same(back.ask, back.ask_len, t.ask, t.ask_len));
    check(same(back.ark, back.ark_len, t.ark, t.ark_len));
    check(veil_ok(veil_snp_cert_table_encode(&back, &again)));
    check(veil_public_equal(enc.data, enc.len, again.data, again.len));
    check(veil_ok(veil_snp_cert_table_decode(again.data, again.len, &again_t)));
    veil_buf_free(&enc);
    veil_buf_free(&again);
    return 0;
}
