/* RFC 8785 canonicalisation of arbitrary input: whatever canonicalises must
 * canonicalise again to the identical bytes; the entry checker must never
 * crash; and (8-byte inputs read as a double) every finite number's
 * ECMAScript text must read back as exactly that number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "veil/ledger.h"
#include "veil/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_buf a, b;
    veil_buf_init(&a, 0);
    veil_buf_init(&b, 0);
    if (veil_ok(veil_jcs_canonicalize(data, size, &a))) {
        if (!veil_ok(veil_jcs_canonicalize(a.data, a.len, &b)) ||
            !veil_public_equal(a.data, a.len, b.data, b.len))
            abort();
        veil_result r = veil_ledger_entry_check(a.data, a.len, 0);
        (void)r;
    }
    veil_result r = veil_ledger_entry_check(data, size, 0);
    (void)r;
    if (size == sizeof(double)) {
        double d;
        char text[VEIL_JCS_NUMBER_MAX];
        memcpy(&d, data, sizeof d);
        if (isfinite(d)) {
            if (!veil_ok(veil_jcs_number(d, text)) || strtod(text, NULL) != d)
                abort();
        } else if (veil_ok(veil_jcs_number(d, text))) {
            abort();
        }
    }
    veil_buf_free(&a);
    veil_buf_free(&b);
    return 0;
}
