/* jansson helpers that keep allocation on veil's allocator. */
#ifndef VEIL_JSON_UTIL_H
#define VEIL_JSON_UTIL_H

#include <jansson.h>

/* Compact, key-sorted serialisation into a NUL-terminated string from
 * veil_calloc (free with veil_free); NULL on failure. */
char *veil_json_dump(const json_t *j);

#endif
