/* libFuzzer target for the Binary HTTP decoder (RFC 9292).
 *
 * Any input either fails to decode or yields a message that, re-encoded in
 * either framing, decodes again to the same message (same meaning, padding
 * and truncation), and whose re-encoding is a fixed point. For the
 * indeterminate framing the streaming encoder must produce the same bytes as
 * the whole-message encoder. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "veil/bhttp.h"
#include "veil/mem.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_streamed(const veil_bhttp_msg *m, const veil_buf *whole)
{
    veil_buf s;
    size_t clen;
    const uint8_t *c = veil_bhttp_content(m, &clen);
    veil_buf_init(&s, 0);
    check(veil_ok(veil_bhttp_encode_head(m, &s)));
    check(veil_ok(veil_bhttp_encode_chunk(c, clen, &s)));
    check(veil_ok(veil_bhttp_encode_end(m, &s)));
    check(veil_public_equal(s.data, s.len, whole->data, whole->len));
    veil_buf_free(&s);
}

static void roundtrip(const veil_bhttp_msg *m, veil_bhttp_framing f)
{
    veil_buf enc, again;
    veil_bhttp_msg *back = NULL;
    veil_buf_init(&enc, 0);
    veil_buf_init(&again, 0);
    check(veil_ok(veil_bhttp_encode(m, f, &enc)));
    check(veil_ok(veil_bhttp_decode(enc.data, enc.len, NULL, &back)));
    check(veil_bhttp_msg_equal(m, back));
    check(veil_bhttp_framing_of(back) == f);
    check(veil_bhttp_padding(back) == veil_bhttp_padding(m));
    check(veil_bhttp_min_sections(back) == veil_bhttp_min_sections(m));
    check(veil_ok(veil_bhttp_encode(back, f, &again)));
    check(veil_public_equal(enc.data, enc.len, again.data, again.len));
    if (f == VEIL_BHTTP_INDETERMINATE && veil_bhttp_min_sections(m) == 3)
        check_streamed(m, &enc);
    veil_bhttp_msg_free(back);
    veil_buf_free(&enc);
    veil_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_bhttp_msg *m = NULL;
    veil_result r = veil_bhttp_decode(data, size, NULL, &m);
    if (!veil_ok(r)) {
        check(m == NULL && r.cls == VEIL_E_PROTOCOL && r.msg != NULL);
        return 0;
    }
    roundtrip(m, VEIL_BHTTP_KNOWN_LENGTH);
    roundtrip(m, VEIL_BHTTP_INDETERMINATE);
    veil_bhttp_msg_free(m);
    return 0;
}
