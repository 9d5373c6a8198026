#include "veil/selftest.h"

/* Placeholder until the hpke module lands. */
veil_result veil_selftest_hpke_json(const char *json, size_t len, veil_selftest_report *rep)
{
    return VEIL_ERR(VEIL_E_UNSUPPORTED, "hpke vectors not implemented yet");
}
