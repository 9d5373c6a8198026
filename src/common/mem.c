/* The project's single home for heap allocation (lint keeps malloc/calloc/
 * realloc/free out of every other file) and for the error-class names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/result.h"

void *veil_calloc(size_t n, size_t size)
{
    if (n == 0 || size == 0)
        n = size = 1;
    if (size > SIZE_MAX / n)
        return NULL;
    return calloc(n, size);
}

void veil_free_wiped(void *p, size_t n)
{
    if (!p)
        return;
    veil_wipe(p, n);
    free(p);
}

void veil_free(void *p) { free(p); }

bool veil_public_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

const char *veil_errclass_name(veil_errclass cls)
{
    switch (cls) {
    case VEIL_E_NONE: return "ok";
    case VEIL_E_PROTOCOL: return "protocol";
    case VEIL_E_CRYPTO: return "crypto";
    case VEIL_E_USAGE: return "usage";
    case VEIL_E_INTERNAL: return "internal";
    case VEIL_E_NOMEM: return "resource";
    case VEIL_E_UNSUPPORTED: return "unsupported";
    }
    return "unknown";
}
