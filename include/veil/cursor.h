/* veil — bounded read cursor and growable write buffer.
 *
 * Every byte of untrusted input is read through a veil_cursor: each read
 * checks the remaining length first and fails (without moving) on underrun.
 * Length-prefixed fields open a sub-cursor over exactly that many bytes,
 * which the caller must consume completely (veil_cursor_expect_end).
 *
 * veil_buf is the matching writer. It grows up to a hard maximum, wipes
 * every byte it ever held when it grows or is freed (so it can carry keys
 * and plaintext), and supports back-patching fixed-width lengths.
 *
 * Variable-length integers are QUIC's (RFC 9000 §16): the two high bits of
 * the first byte give the length (1, 2, 4 or 8 bytes), 62 bits of value. */
#ifndef VEIL_CURSOR_H
#define VEIL_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_VARINT_MAX ((uint64_t)0x3FFFFFFFFFFFFFFFull)

typedef struct veil_cursor {
    const uint8_t *ptr;
    size_t len;
    size_t off;
} veil_cursor;

veil_cursor veil_cursor_init(const uint8_t *ptr, size_t len);
size_t veil_cursor_remaining(const veil_cursor *c);
bool veil_cursor_at_end(const veil_cursor *c);
/* Pointer to the next unread byte (valid for veil_cursor_remaining bytes). */
const uint8_t *veil_cursor_peek_ptr(const veil_cursor *c);

VEIL_MUST_USE veil_result veil_cursor_u8(veil_cursor *c, uint8_t *out);
VEIL_MUST_USE veil_result veil_cursor_u16(veil_cursor *c, uint16_t *out); /* big-endian */
VEIL_MUST_USE veil_result veil_cursor_u32(veil_cursor *c, uint32_t *out);
VEIL_MUST_USE veil_result veil_cursor_u64(veil_cursor *c, uint64_t *out);
VEIL_MUST_USE veil_result veil_cursor_u16le(veil_cursor *c, uint16_t *out);
VEIL_MUST_USE veil_result veil_cursor_u32le(veil_cursor *c, uint32_t *out);
VEIL_MUST_USE veil_result veil_cursor_u64le(veil_cursor *c, uint64_t *out);
/* RFC 9000 §16 variable-length integer. Non-minimal encodings are accepted
 * (the RFC allows them); *width_out (may be NULL) reports the bytes used. */
VEIL_MUST_USE veil_result veil_cursor_varint(veil_cursor *c, uint64_t *out);
VEIL_MUST_USE veil_result veil_cursor_varint_w(veil_cursor *c, uint64_t *out, size_t *width_out);
/* Copy exactly n bytes. */
VEIL_MUST_USE veil_result veil_cursor_copy(veil_cursor *c, void *out, size_t n);
/* Borrow a pointer to the next n bytes and advance past them. */
VEIL_MUST_USE veil_result veil_cursor_view(veil_cursor *c, size_t n, const uint8_t **out);
VEIL_MUST_USE veil_result veil_cursor_skip(veil_cursor *c, size_t n);
/* Open a sub-cursor over the next n bytes and advance the parent past them. */
VEIL_MUST_USE veil_result veil_cursor_sub(veil_cursor *c, size_t n, veil_cursor *sub);
/* Sub-cursor over a field prefixed with a varint / u16 / u8 length. */
VEIL_MUST_USE veil_result veil_cursor_sub_varint(veil_cursor *c, veil_cursor *sub);
VEIL_MUST_USE veil_result veil_cursor_sub_u16(veil_cursor *c, veil_cursor *sub);
VEIL_MUST_USE veil_result veil_cursor_sub_u8(veil_cursor *c, veil_cursor *sub);
/* Fail with `msg` (a protocol error) if unread bytes remain. */
VEIL_MUST_USE veil_result veil_cursor_expect_end(const veil_cursor *c, const char *msg);

/* Encoded length of v as a minimal varint (1, 2, 4, 8), or 0 if v > VEIL_VARINT_MAX. */
size_t veil_varint_len(uint64_t v);

typedef struct veil_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len; 0 means VEIL_BUF_DEFAULT_MAX */
} veil_buf;

#define VEIL_BUF_DEFAULT_MAX ((size_t)1 << 30)

/* An empty buffer; `max` bounds its size (0 for the default 1 GiB). */
void veil_buf_init(veil_buf *b, size_t max);
/* Wipe and release the contents; the buffer is left empty and reusable. */
void veil_buf_free(veil_buf *b);
/* Wipe the contents but keep the allocation. */
void veil_buf_clear(veil_buf *b);
VEIL_MUST_USE veil_result veil_buf_reserve(veil_buf *b, size_t extra);
VEIL_MUST_USE veil_result veil_buf_append(veil_buf *b, const void *p, size_t n);
VEIL_MUST_USE veil_result veil_buf_zeros(veil_buf *b, size_t n);
VEIL_MUST_USE veil_result veil_buf_u8(veil_buf *b, uint8_t v);
VEIL_MUST_USE veil_result veil_buf_u16(veil_buf *b, uint16_t v);
VEIL_MUST_USE veil_result veil_buf_u32(veil_buf *b, uint32_t v);
VEIL_MUST_USE veil_result veil_buf_u64(veil_buf *b, uint64_t v);
/* Minimal-length varint; fails if v > VEIL_VARINT_MAX. */
VEIL_MUST_USE veil_result veil_buf_varint(veil_buf *b, uint64_t v);
/* Varint length prefix followed by the bytes. */
VEIL_MUST_USE veil_result veil_buf_varint_bytes(veil_buf *b, const void *p, size_t n);
/* Overwrite a big-endian u16 at `pos` (for back-patched lengths). */
VEIL_MUST_USE veil_result veil_buf_patch_u16(veil_buf *b, size_t pos, uint16_t v);
/* Hand the bytes to the caller (who frees them with veil_free_wiped(p, len)),
 * leaving the buffer empty. */
uint8_t *veil_buf_detach(veil_buf *b, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
