/* veil — hexadecimal encoding, for test vectors, key files and diagnostics. */
#ifndef VEIL_HEX_H
#define VEIL_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decode `len` hex characters (upper or lower case, no separators) and append
 * the bytes to `out`. Odd length or a non-hex character is a protocol error. */
VEIL_MUST_USE veil_result veil_hex_decode(const char *hex, size_t len, veil_buf *out);
/* Write 2*n lowercase hex characters and a NUL into `out` (size >= 2n+1). */
void veil_hex_encode(const uint8_t *p, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
