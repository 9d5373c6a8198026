#include "common/json_util.h"

#include "veil/mem.h"

char *veil_json_dump(const json_t *j)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    size_t n = json_dumpb(j, NULL, 0, flags);
    if (n == 0)
        return NULL;
    char *s = veil_calloc(n + 1, 1);
    if (s && json_dumpb(j, s, n, flags) != n) {
        veil_free(s);
        s = NULL;
    }
    return s;
}
