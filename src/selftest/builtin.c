#include "veil/selftest.h"

veil_result veil_selftest_builtin(veil_selftest_report *rep)
{
    return VEIL_ERR(VEIL_E_UNSUPPORTED, "built-in tests not implemented yet");
}
