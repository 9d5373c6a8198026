/* veil — base64 (RFC 4648 §4) and base64url without padding (§5, as JOSE uses). */
#ifndef VEIL_BASE64_H
#define VEIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Append the encoding (no NUL) to out. */
VEIL_MUST_USE veil_result veil_base64_encode(const uint8_t *p, size_t n, veil_buf *out);
VEIL_MUST_USE veil_result veil_base64url_encode(const uint8_t *p, size_t n, veil_buf *out);
/* Strict decoders: canonical padding only (base64) / no padding (base64url),
 * no whitespace, unused bits zero. Append the bytes to out. */
VEIL_MUST_USE veil_result veil_base64_decode(const char *s, size_t len, veil_buf *out);
VEIL_MUST_USE veil_result veil_base64url_decode(const char *s, size_t len, veil_buf *out);

#ifdef __cplusplus
}
#endif
#endif
