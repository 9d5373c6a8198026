/* Small string and time helpers of the HTTP module. */
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "veil/http.h"
#include "veil/mem.h"

char *veil_http_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = veil_calloc(n + 1, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

bool veil_http_token_ok(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && !strchr(extra, c))
            return false;
    }
    return true;
}

bool veil_http_field_value_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

void veil_http_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* "type/subtype" of a Content-Type value, case-insensitively; parameters
 * (after ';') and optional whitespace are ignored. */
bool veil_http_content_type_is(const char *value, const char *media_type)
{
    if (!value || !media_type)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strcspn(value, ";");
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    return n == strlen(media_type) && strncasecmp(value, media_type, n) == 0;
}
