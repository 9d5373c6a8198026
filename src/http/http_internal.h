/* Helpers shared by the HTTP module's files (src/http/ only). */
#ifndef VEIL_HTTP_INTERNAL_H
#define VEIL_HTTP_INTERNAL_H

#include <stdbool.h>
#include <time.h>

#include "veil/http.h"

/* A NUL-terminated copy from veil_calloc (free with veil_free); NULL on failure. */
char *veil_http_strdup(const char *s);
/* RFC 9110 §5.6.2 token: a valid header field name. */
bool veil_http_token_ok(const char *s);
/* A field value that cannot split a header: no CR, LF or other control
 * characters except horizontal tab. */
bool veil_http_field_value_ok(const char *s);
/* Now plus `ms` on CLOCK_MONOTONIC, for pthread_cond_timedwait. */
void veil_http_deadline(struct timespec *ts, unsigned ms);
/* Record a builder failure (the first one sticks; the response becomes a 500). */
void veil_http_resp_fail(veil_http_response *resp, veil_result err);

#endif
