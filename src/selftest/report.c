#include "veil/selftest.h"

void veil_selftest_record(veil_selftest_report *rep, const char *name, const char *why)
{
    if (!why) {
        rep->passed++;
        return;
    }
    rep->failed++;
    if (rep->on_failure)
        rep->on_failure(rep->arg, name, why);
}
