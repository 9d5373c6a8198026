/* Growable write buffer with a hard size limit. Growth copies into a fresh
 * allocation and wipes the old one, so secrets never linger in freed memory. */
#include <string.h>

#include "veil/cursor.h"
#include "veil/mem.h"

void veil_buf_init(veil_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : VEIL_BUF_DEFAULT_MAX;
}

void veil_buf_free(veil_buf *b)
{
    veil_free_wiped(b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void veil_buf_clear(veil_buf *b)
{
    if (b->data)
        veil_wipe(b->data, b->len);
    b->len = 0;
}

veil_result veil_buf_reserve(veil_buf *b, size_t extra)
{
    if (b->max == 0)
        b->max = VEIL_BUF_DEFAULT_MAX;
    VEIL_ENSURE(extra <= b->max && b->len <= b->max - extra, VEIL_E_NOMEM,
                "output would exceed the buffer's size limit");
    size_t want = b->len + extra;
    if (want <= b->cap)
        return VEIL_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *p = veil_calloc(cap, 1);
    VEIL_ENSURE(p != NULL, VEIL_E_NOMEM, "out of memory growing a buffer");
    if (b->len)
        memcpy(p, b->data, b->len);
    veil_free_wiped(b->data, b->cap);
    b->data = p;
    b->cap = cap;
    return VEIL_OK;
}

veil_result veil_buf_append(veil_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return VEIL_OK;
    VEIL_GUARD(veil_buf_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return VEIL_OK;
}

veil_result veil_buf_zeros(veil_buf *b, size_t n)
{
    if (n == 0)
        return VEIL_OK;
    VEIL_GUARD(veil_buf_reserve(b, n));
    memset(b->data + b->len, 0, n);
    b->len += n;
    return VEIL_OK;
}

static veil_result put_be(veil_buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return veil_buf_append(b, tmp, n);
}

veil_result veil_buf_u8(veil_buf *b, uint8_t v) { return put_be(b, v, 1); }
veil_result veil_buf_u16(veil_buf *b, uint16_t v) { return put_be(b, v, 2); }
veil_result veil_buf_u32(veil_buf *b, uint32_t v) { return put_be(b, v, 4); }
veil_result veil_buf_u64(veil_buf *b, uint64_t v) { return put_be(b, v, 8); }

veil_result veil_buf_varint(veil_buf *b, uint64_t v)
{
    static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xC0};
    size_t n = veil_varint_len(v);
    VEIL_ENSURE(n != 0, VEIL_E_USAGE, "value too large for a variable-length integer");
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    tmp[0] |= prefix[n];
    return veil_buf_append(b, tmp, n);
}

veil_result veil_buf_varint_bytes(veil_buf *b, const void *p, size_t n)
{
    VEIL_GUARD(veil_buf_varint(b, n));
    return veil_buf_append(b, p, n);
}

veil_result veil_buf_patch_u16(veil_buf *b, size_t pos, uint16_t v)
{
    VEIL_ENSURE(pos <= b->len && b->len - pos >= 2, VEIL_E_INTERNAL,
                "back-patch position outside the buffer");
    b->data[pos] = (uint8_t)(v >> 8);
    b->data[pos + 1] = (uint8_t)v;
    return VEIL_OK;
}

uint8_t *veil_buf_detach(veil_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
