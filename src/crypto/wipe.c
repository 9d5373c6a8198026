/* Wipe and constant-time compare delegate to OpenSSL, whose implementations
 * are built so the compiler cannot optimise them away or short-circuit. */
#include <openssl/crypto.h>

#include "veil/mem.h"

void veil_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

bool veil_ct_equal(const void *a, const void *b, size_t n)
{
    return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}
