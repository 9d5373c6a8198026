#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/hex.h"
#include "veil/mem.h"

char *tu_read_testdata(const char *relpath, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", VEIL_TESTDATA_DIR, relpath);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open test data %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = veil_calloc((size_t)n + 1, 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

void tu_hex(veil_buf *out, const char *hex)
{
    veil_buf_init(out, 0);
    tu_ok(veil_hex_decode(hex, strlen(hex), out));
}

void tu_assert_ok_(veil_result r, const char *what, const char *file, int line)
{
    if (!veil_ok(r))
        fail_msg("%s:%d: %s failed: [%s] %s", file, line, what, veil_errclass_name(r.cls), r.msg);
}

void tu_assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    if (veil_public_equal(got, got_len, want, want_len))
        return;
    char *g = veil_calloc(got_len * 2 + 1, 1), *w = veil_calloc(want_len * 2 + 1, 1);
    veil_hex_encode(got, got_len, g);
    veil_hex_encode(want, want_len, w);
    print_error("got  (%zu) %s\nwant (%zu) %s\n", got_len, g, want_len, w);
    veil_free(g);
    veil_free(w);
    fail();
}

void tu_free(void *p) { veil_free(p); }
