/* `veil selftest` with no file: the embedded known-answer tests. */
#include <string.h>

#include "veil/selftest.h"

#include "builtin_vectors.inc"

veil_result veil_selftest_builtin(veil_selftest_report *rep)
{
    VEIL_GUARD(veil_selftest_hpke_json(builtin_hpke_json, strlen(builtin_hpke_json), rep));
    VEIL_GUARD(veil_selftest_bhttp_json(builtin_bhttp_json, strlen(builtin_bhttp_json), rep));
    VEIL_GUARD(veil_selftest_ohttp_json(builtin_ohttp_json, strlen(builtin_ohttp_json), rep));
    VEIL_GUARD(veil_selftest_ohttp_json(builtin_chunked_json, strlen(builtin_chunked_json), rep));
    return VEIL_OK;
}
