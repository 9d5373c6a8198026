#include "veil/selftest.h"

/* Placeholder until the bhttp module lands. */
veil_result veil_selftest_bhttp_json(const char *json, size_t len, veil_selftest_report *rep)
{
    return VEIL_ERR(VEIL_E_UNSUPPORTED, "bhttp vectors not implemented yet");
}
