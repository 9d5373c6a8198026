/* Civil-date arithmetic (proleptic Gregorian, H. Hinnant's days_from_civil),
 * so no locale- or feature-macro-dependent libc call is needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/timeutil.h"

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

veil_result veil_time_parse(const char *s, int64_t *out)
{
    const char *bad = "time must look like 2025-06-01T00:00:00Z, 2025-06-01 or @<unix seconds>";
    if (s[0] == '@') {
        char *end;
        long long v = strtoll(s + 1, &end, 10);
        VEIL_ENSURE(end != s + 1 && *end == '\0', VEIL_E_USAGE, bad);
        *out = v;
        return VEIL_OK;
    }
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    int n = 0;
    size_t len = strlen(s);
    if (len == 10)
        VEIL_ENSURE(sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) == 3 && n == 10, VEIL_E_USAGE, bad);
    else
        VEIL_ENSURE(len == 20 &&
                        sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2uZ%n", &y, &mo, &d, &h, &mi, &sec, &n) ==
                            6 &&
                        n == 20,
                    VEIL_E_USAGE, bad);
    VEIL_ENSURE(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 61,
                VEIL_E_USAGE, bad);
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return VEIL_OK;
}

void veil_time_format(int64_t t, char out[21])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t rem = t - days * 86400;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char tmp[64]; /* wide enough for any int; the format fits 20 for years 0..9999 */
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02u:%02u:%02uZ", y % 10000, m % 100, d % 100,
             (unsigned)(rem / 3600) % 100, (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
    memcpy(out, tmp, 20);
    out[20] = '\0';
}
