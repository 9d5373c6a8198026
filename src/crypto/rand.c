#include <limits.h>
#include <openssl/rand.h>

#include "veil/rand.h"

veil_result veil_random_bytes(uint8_t *out, size_t n)
{
    VEIL_ENSURE(n <= INT_MAX, VEIL_E_USAGE, "random request too large");
    VEIL_ENSURE(n == 0 || RAND_bytes(out, (int)n) == 1, VEIL_E_INTERNAL,
                "the system random generator failed");
    return VEIL_OK;
}
