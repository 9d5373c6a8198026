/* Helpers shared by the cmocka unit tests. */
#ifndef VEIL_TESTUTIL_H
#define VEIL_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "veil/cursor.h"

/* Read a whole file below VEIL_TESTDATA_DIR into a NUL-terminated heap
 * buffer; fails the test when it cannot. Free with tu_free. */
char *tu_read_testdata(const char *relpath, size_t *len);
/* Decode hex into a fresh buffer, failing the test on bad hex. */
void tu_hex(veil_buf *out, const char *hex);
/* Assert that a veil_result is ok, printing its message if not. */
#define tu_ok(expr) tu_assert_ok_((expr), #expr, __FILE__, __LINE__)
void tu_assert_ok_(veil_result r, const char *what, const char *file, int line);
/* Assert bytes equal with a hex dump on mismatch. */
void tu_assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len);
void tu_free(void *p);

#endif
