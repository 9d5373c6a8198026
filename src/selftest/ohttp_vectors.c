#include "veil/selftest.h"

/* Placeholder until the ohttp module lands. */
veil_result veil_selftest_ohttp_json(const char *json, size_t len, veil_selftest_report *rep)
{
    return VEIL_ERR(VEIL_E_UNSUPPORTED, "ohttp vectors not implemented yet");
}
