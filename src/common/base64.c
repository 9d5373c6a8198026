/* Base64 codecs. Decoding is strict so one value has one encoding: tokens
 * and evidence are compared and hashed as text elsewhere. */
#include "veil/base64.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static veil_result encode(const uint8_t *p, size_t n, const char *alpha, int pad, veil_buf *out)
{
    VEIL_GUARD(veil_buf_reserve(out, (n + 2) / 3 * 4));
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        char q[4] = {alpha[v >> 18 & 63], alpha[v >> 12 & 63], alpha[v >> 6 & 63], alpha[v & 63]};
        size_t emit = left >= 3 ? 4 : left + 1;
        VEIL_GUARD(veil_buf_append(out, q, emit));
        if (pad && emit < 4)
            VEIL_GUARD(veil_buf_append(out, "==", 4 - emit));
    }
    return VEIL_OK;
}

veil_result veil_base64_encode(const uint8_t *p, size_t n, veil_buf *out)
{
    return encode(p, n, std_alphabet, 1, out);
}

veil_result veil_base64url_encode(const uint8_t *p, size_t n, veil_buf *out)
{
    return encode(p, n, url_alphabet, 0, out);
}

static int value_of(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static veil_result decode(const char *s, size_t len, int url, veil_buf *out)
{
    if (!url) {
        VEIL_ENSURE(len % 4 == 0, VEIL_E_PROTOCOL, "base64: length is not a multiple of 4");
        size_t pad = 0;
        while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
            pad++;
        len -= pad;
    }
    VEIL_ENSURE(len % 4 != 1, VEIL_E_PROTOCOL, "base64: impossible length");
    VEIL_GUARD(veil_buf_reserve(out, len / 4 * 3 + 2));
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(s[i], url);
        VEIL_ENSURE(v >= 0, VEIL_E_PROTOCOL, "base64: invalid character");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            VEIL_GUARD(veil_buf_u8(out, (uint8_t)(acc >> bits)));
        }
    }
    VEIL_ENSURE((acc & ((1u << bits) - 1)) == 0, VEIL_E_PROTOCOL,
                "base64: non-zero bits after the last byte");
    return VEIL_OK;
}

veil_result veil_base64_decode(const char *s, size_t len, veil_buf *out)
{
    return decode(s, len, 0, out);
}

veil_result veil_base64url_decode(const char *s, size_t len, veil_buf *out)
{
    return decode(s, len, 1, out);
}
