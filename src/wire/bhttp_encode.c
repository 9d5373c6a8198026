/* Binary HTTP (RFC 9292) encoder: whole messages in either framing, and the
 * incremental indeterminate-length form for streamed content. It reads the
 * message through the public getters; the builders and the decoder have
 * already enforced validity, so everything written here decodes again.
 * Varints are minimal; known-length sections are sized before writing. */
#include "veil/bhttp.h"

#include <string.h>

#include "veil/mem.h"

/* Bytes of a known-length field section's lines (RFC 9292 §3.6). */
static veil_result fields_size(veil_bhttp_fields f, size_t *size)
{
    size_t total = 0;
    for (size_t i = 0; i < f.n; i++) {
        size_t parts[2] = {f.v[i].name_len, f.v[i].value_len};
        for (int j = 0; j < 2; j++) {
            size_t w = veil_varint_len(parts[j]);
            VEIL_ENSURE(w != 0 && parts[j] <= SIZE_MAX - w && total <= SIZE_MAX - w - parts[j],
                        VEIL_E_USAGE, "bhttp: field section too large to encode");
            total += w + parts[j];
        }
    }
    *size = total;
    return VEIL_OK;
}

/* Known-length: Length, lines. Indeterminate: lines, terminator 0. */
static veil_result put_fields(veil_buf *out, veil_bhttp_fields f, bool indeterminate)
{
    if (!indeterminate) {
        size_t size;
        VEIL_GUARD(fields_size(f, &size));
        VEIL_GUARD(veil_buf_varint(out, size));
    }
    for (size_t i = 0; i < f.n; i++) {
        VEIL_GUARD(veil_buf_varint_bytes(out, f.v[i].name, f.v[i].name_len));
        VEIL_GUARD(veil_buf_varint_bytes(out, f.v[i].value, f.v[i].value_len));
    }
    return indeterminate ? veil_buf_varint(out, 0) : VEIL_OK;
}

static veil_result put_string(veil_buf *out, const char *s)
{
    return veil_buf_varint_bytes(out, s, strlen(s));
}

/* Framing indicator (§3.3) and control data: request (§3.4) or
 * informational responses and final status (§3.5). */
static veil_result put_control(veil_buf *out, const veil_bhttp_msg *m, bool indeterminate)
{
    bool req = veil_bhttp_is_request(m);
    VEIL_GUARD(veil_buf_varint(out, (req ? 0u : 1u) | (indeterminate ? 2u : 0u)));
    if (req) {
        VEIL_GUARD(put_string(out, veil_bhttp_method(m)));
        VEIL_GUARD(put_string(out, veil_bhttp_scheme(m)));
        VEIL_GUARD(put_string(out, veil_bhttp_authority(m)));
        return put_string(out, veil_bhttp_path(m));
    }
    for (size_t i = 0; i < veil_bhttp_informational_count(m); i++) {
        VEIL_GUARD(veil_buf_varint(out, veil_bhttp_informational_status(m, i)));
        VEIL_GUARD(put_fields(out, veil_bhttp_informational_fields(m, i), indeterminate));
    }
    return veil_buf_varint(out, veil_bhttp_status(m));
}

/* Known-length: Content Length, Content. Indeterminate: one chunk (when
 * non-empty), then the zero terminator. */
static veil_result put_content(veil_buf *out, const uint8_t *p, size_t n, bool indeterminate)
{
    if (!indeterminate)
        return veil_buf_varint_bytes(out, p, n);
    VEIL_GUARD(veil_bhttp_encode_chunk(p, n, out));
    return veil_buf_varint(out, 0);
}

/* §3.8: how many of header, content, trailer to write: through the last
 * non-empty one, and no fewer than the message asks for. */
static unsigned sections_to_write(const veil_bhttp_msg *m, size_t content_len)
{
    unsigned n = veil_bhttp_min_sections(m);
    if (veil_bhttp_headers(m).n > 0 && n < 1)
        n = 1;
    if (content_len > 0 && n < 2)
        n = 2;
    if (veil_bhttp_trailers(m).n > 0)
        n = 3;
    return n;
}

static veil_result encode_body(const veil_bhttp_msg *m, bool indeterminate, veil_buf *out)
{
    size_t clen;
    const uint8_t *content = veil_bhttp_content(m, &clen);
    unsigned nsec = sections_to_write(m, clen);
    VEIL_GUARD(put_control(out, m, indeterminate));
    if (nsec >= 1)
        VEIL_GUARD(put_fields(out, veil_bhttp_headers(m), indeterminate));
    if (nsec >= 2)
        VEIL_GUARD(put_content(out, content, clen, indeterminate));
    if (nsec >= 3)
        VEIL_GUARD(put_fields(out, veil_bhttp_trailers(m), indeterminate));
    return veil_buf_zeros(out, veil_bhttp_padding(m));
}

/* Undo a failed append so `out` holds what it held before the call. */
static veil_result rollback(veil_buf *out, size_t mark, veil_result r)
{
    if (!veil_ok(r) && out->len > mark) {
        veil_wipe(out->data + mark, out->len - mark);
        out->len = mark;
    }
    return r;
}

veil_result veil_bhttp_encode(const veil_bhttp_msg *m, veil_bhttp_framing framing, veil_buf *out)
{
    VEIL_ENSURE(m != NULL && out != NULL, VEIL_E_USAGE, "bhttp: encode needs a message and output");
    VEIL_ENSURE(framing == VEIL_BHTTP_KNOWN_LENGTH || framing == VEIL_BHTTP_INDETERMINATE,
                VEIL_E_USAGE, "bhttp: unknown framing");
    size_t mark = out->len;
    return rollback(out, mark, encode_body(m, framing == VEIL_BHTTP_INDETERMINATE, out));
}

static veil_result encode_head(const veil_bhttp_msg *m, veil_buf *out)
{
    VEIL_GUARD(put_control(out, m, true));
    return put_fields(out, veil_bhttp_headers(m), true);
}

veil_result veil_bhttp_encode_head(const veil_bhttp_msg *m, veil_buf *out)
{
    VEIL_ENSURE(m != NULL && out != NULL, VEIL_E_USAGE, "bhttp: encode needs a message and output");
    size_t mark = out->len;
    return rollback(out, mark, encode_head(m, out));
}

veil_result veil_bhttp_encode_chunk(const uint8_t *p, size_t n, veil_buf *out)
{
    VEIL_ENSURE(out != NULL && (p != NULL || n == 0), VEIL_E_USAGE,
                "bhttp: encode needs content and output");
    if (n == 0)
        return VEIL_OK;
    size_t mark = out->len;
    return rollback(out, mark, veil_buf_varint_bytes(out, p, n));
}

static veil_result encode_end(const veil_bhttp_msg *t, veil_buf *out)
{
    VEIL_GUARD(veil_buf_varint(out, 0));
    VEIL_GUARD(put_fields(out, t ? veil_bhttp_trailers(t) : (veil_bhttp_fields){NULL, 0}, true));
    return veil_buf_zeros(out, t ? veil_bhttp_padding(t) : 0);
}

veil_result veil_bhttp_encode_end(const veil_bhttp_msg *trailers, veil_buf *out)
{
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "bhttp: encode needs an output");
    size_t mark = out->len;
    return rollback(out, mark, encode_end(trailers, out));
}
