/* Bounded read cursor: every read checks the remaining length first and leaves
 * the cursor unmoved when it fails. */
#include "veil/cursor.h"

#include <string.h>

static const char *const underrun = "input ends before the field it announces";

veil_cursor veil_cursor_init(const uint8_t *ptr, size_t len)
{
    veil_cursor c = {ptr, ptr ? len : 0, 0};
    return c;
}

size_t veil_cursor_remaining(const veil_cursor *c) { return c->len - c->off; }

bool veil_cursor_at_end(const veil_cursor *c) { return c->off == c->len; }

const uint8_t *veil_cursor_peek_ptr(const veil_cursor *c) { return c->ptr + c->off; }

static veil_result need(const veil_cursor *c, size_t n)
{
    VEIL_ENSURE(n <= veil_cursor_remaining(c), VEIL_E_PROTOCOL, underrun);
    return VEIL_OK;
}

static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t read_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

static veil_result read_int(veil_cursor *c, size_t n, bool big_endian, uint64_t *out)
{
    VEIL_GUARD(need(c, n));
    const uint8_t *p = c->ptr + c->off;
    *out = big_endian ? read_be(p, n) : read_le(p, n);
    c->off += n;
    return VEIL_OK;
}

veil_result veil_cursor_u8(veil_cursor *c, uint8_t *out)
{
    uint64_t v;
    VEIL_GUARD(read_int(c, 1, true, &v));
    *out = (uint8_t)v;
    return VEIL_OK;
}

veil_result veil_cursor_u16(veil_cursor *c, uint16_t *out)
{
    uint64_t v;
    VEIL_GUARD(read_int(c, 2, true, &v));
    *out = (uint16_t)v;
    return VEIL_OK;
}

veil_result veil_cursor_u32(veil_cursor *c, uint32_t *out)
{
    uint64_t v;
    VEIL_GUARD(read_int(c, 4, true, &v));
    *out = (uint32_t)v;
    return VEIL_OK;
}

veil_result veil_cursor_u64(veil_cursor *c, uint64_t *out) { return read_int(c, 8, true, out); }

veil_result veil_cursor_u16le(veil_cursor *c, uint16_t *out)
{
    uint64_t v;
    VEIL_GUARD(read_int(c, 2, false, &v));
    *out = (uint16_t)v;
    return VEIL_OK;
}

veil_result veil_cursor_u32le(veil_cursor *c, uint32_t *out)
{
    uint64_t v;
    VEIL_GUARD(read_int(c, 4, false, &v));
    *out = (uint32_t)v;
    return VEIL_OK;
}

veil_result veil_cursor_u64le(veil_cursor *c, uint64_t *out) { return read_int(c, 8, false, out); }

/* RFC 9000 §16: the two most significant bits of the first byte encode the
 * base-2 logarithm of the integer's length in bytes. */
veil_result veil_cursor_varint_w(veil_cursor *c, uint64_t *out, size_t *width_out)
{
    VEIL_ENSURE(veil_cursor_remaining(c) >= 1, VEIL_E_PROTOCOL,
                "input ends where a variable-length integer was expected");
    size_t width = (size_t)1 << (c->ptr[c->off] >> 6);
    VEIL_ENSURE(veil_cursor_remaining(c) >= width, VEIL_E_PROTOCOL,
                "variable-length integer is truncated");
    /* mask off the two length bits */
    *out = read_be(c->ptr + c->off, width) & (((uint64_t)1 << (8 * width - 2)) - 1);
    c->off += width;
    if (width_out)
        *width_out = width;
    return VEIL_OK;
}

veil_result veil_cursor_varint(veil_cursor *c, uint64_t *out)
{
    return veil_cursor_varint_w(c, out, NULL);
}

veil_result veil_cursor_copy(veil_cursor *c, void *out, size_t n)
{
    VEIL_GUARD(need(c, n));
    if (n)
        memcpy(out, c->ptr + c->off, n);
    c->off += n;
    return VEIL_OK;
}

veil_result veil_cursor_view(veil_cursor *c, size_t n, const uint8_t **out)
{
    VEIL_GUARD(need(c, n));
    *out = c->ptr + c->off;
    c->off += n;
    return VEIL_OK;
}

veil_result veil_cursor_skip(veil_cursor *c, size_t n)
{
    VEIL_GUARD(need(c, n));
    c->off += n;
    return VEIL_OK;
}

veil_result veil_cursor_sub(veil_cursor *c, size_t n, veil_cursor *sub)
{
    const uint8_t *p;
    VEIL_GUARD(veil_cursor_view(c, n, &p));
    *sub = veil_cursor_init(p, n);
    return VEIL_OK;
}

static veil_result sub_len(veil_cursor *c, uint64_t n, veil_cursor *sub)
{
    VEIL_ENSURE(n <= veil_cursor_remaining(c), VEIL_E_PROTOCOL,
                "length prefix exceeds the remaining input");
    return veil_cursor_sub(c, (size_t)n, sub);
}

/* The prefixed forms rewind on failure, keeping the "unmoved on error" promise. */
veil_result veil_cursor_sub_varint(veil_cursor *c, veil_cursor *sub)
{
    size_t mark = c->off;
    uint64_t n;
    VEIL_GUARD(veil_cursor_varint(c, &n));
    veil_result r = sub_len(c, n, sub);
    if (!veil_ok(r))
        c->off = mark;
    return r;
}

veil_result veil_cursor_sub_u16(veil_cursor *c, veil_cursor *sub)
{
    size_t mark = c->off;
    uint16_t n;
    VEIL_GUARD(veil_cursor_u16(c, &n));
    veil_result r = sub_len(c, n, sub);
    if (!veil_ok(r))
        c->off = mark;
    return r;
}

veil_result veil_cursor_sub_u8(veil_cursor *c, veil_cursor *sub)
{
    size_t mark = c->off;
    uint8_t n;
    VEIL_GUARD(veil_cursor_u8(c, &n));
    veil_result r = sub_len(c, n, sub);
    if (!veil_ok(r))
        c->off = mark;
    return r;
}

veil_result veil_cursor_expect_end(const veil_cursor *c, const char *msg)
{
    VEIL_ENSURE(veil_cursor_at_end(c), VEIL_E_PROTOCOL, msg ? msg : "unexpected trailing bytes");
    return VEIL_OK;
}

size_t veil_varint_len(uint64_t v)
{
    if (v < 64)
        return 1;
    if (v < 16384)
        return 2;
    if (v < 1073741824)
        return 4;
    if (v <= VEIL_VARINT_MAX)
        return 8;
    return 0;
}
