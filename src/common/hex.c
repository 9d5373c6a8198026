#include "veil/hex.h"

static int nibble(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

veil_result veil_hex_decode(const char *hex, size_t len, veil_buf *out)
{
    VEIL_ENSURE(len % 2 == 0, VEIL_E_PROTOCOL, "hex string has an odd number of digits");
    VEIL_GUARD(veil_buf_reserve(out, len / 2));
    for (size_t i = 0; i < len; i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        VEIL_ENSURE(hi >= 0 && lo >= 0, VEIL_E_PROTOCOL, "hex string has a non-hex character");
        VEIL_GUARD(veil_buf_u8(out, (uint8_t)(hi << 4 | lo)));
    }
    return VEIL_OK;
}

void veil_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
