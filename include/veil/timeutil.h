/* veil — UTC timestamps: RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" <-> unix seconds. */
#ifndef VEIL_TIMEUTIL_H
#define VEIL_TIMEUTIL_H

#include <stdint.h>

#include "veil/result.h"

/* Accepts "2025-06-01T00:00:00Z", "2025-06-01" (midnight UTC) or "@1748736000". */
VEIL_MUST_USE veil_result veil_time_parse(const char *s, int64_t *out);
/* Writes "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL). */
void veil_time_format(int64_t t, char out[21]);

#endif
