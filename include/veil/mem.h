/* veil — memory helpers: the one wipe, the one constant-time compare, and the
 * allocator every module uses (so parsers never call malloc directly and the
 * lint step can enforce it). */
#ifndef VEIL_MEM_H
#define VEIL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Overwrite `n` bytes with zeros in a way the compiler cannot elide. */
void veil_wipe(void *p, size_t n);

/* Constant-time equality of two equal-length byte strings (MACs, digests,
 * keys, tokens). Time depends only on `n`. */
bool veil_ct_equal(const void *a, const void *b, size_t n);

/* Plain (variable-time) equality, for public data only: wire tokens, labels,
 * identifiers. Never use it on secrets or authenticators. */
bool veil_public_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Zero-initialised allocation; NULL on failure or when n*size overflows. */
void *veil_calloc(size_t n, size_t size);
/* Free after wiping `n` bytes (pass the allocated size). NULL is a no-op. */
void veil_free_wiped(void *p, size_t n);
/* Free without wiping (public data only). NULL is a no-op. */
void veil_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
