/* Bounded cursor and write buffer: every read fails on underrun without
 * moving, varints follow RFC 9000 §16 (including its Appendix A.1 examples),
 * sub-cursors must be consumed exactly. */
#include <string.h>

#include "testutil.h"
#include "veil/mem.h"

static void test_integers_big_and_little_endian(void **state)
{
    const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    veil_cursor c = veil_cursor_init(in, sizeof in);
    uint16_t a;
    uint32_t b;
    tu_ok(veil_cursor_u16(&c, &a));
    assert_int_equal(a, 0x0102);
    tu_ok(veil_cursor_u32le(&c, &b));
    assert_int_equal(b, 0x06050403);
    uint64_t d;
    assert_false(veil_ok(veil_cursor_u64(&c, &d)));
    assert_int_equal(veil_cursor_remaining(&c), 2); /* unmoved after failure */
    tu_ok(veil_cursor_u16le(&c, &a));
    assert_int_equal(a, 0x0807);
    assert_true(veil_cursor_at_end(&c));
}

/* RFC 9000 Appendix A.1 sample varints. */
static void test_varint_rfc9000_examples(void **state)
{
    static const struct {
        const char *hex;
        uint64_t value;
    } cases[] = {
        {"c2197c5eff14e88c", 151288809941952652ull},
        {"9d7f3e7d", 494878333},
        {"7bbd", 15293},
        {"25", 37},
        {"4025", 37}, /* non-minimal two-byte encoding of 37 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        veil_buf in;
        tu_hex(&in, cases[i].hex);
        veil_cursor c = veil_cursor_init(in.data, in.len);
        uint64_t v;
        tu_ok(veil_cursor_varint(&c, &v));
        assert_int_equal(v, cases[i].value);
        assert_true(veil_cursor_at_end(&c));
        if (i < 4) { /* minimal encodings re-encode identically */
            veil_buf out;
            veil_buf_init(&out, 0);
            tu_ok(veil_buf_varint(&out, v));
            tu_assert_bytes(out.data, out.len, in.data, in.len);
            veil_buf_free(&out);
        }
        veil_buf_free(&in);
    }
}

static void test_varint_truncated_and_too_large(void **state)
{
    const uint8_t in[] = {0xc2, 0x19, 0x7c};
    veil_cursor c = veil_cursor_init(in, sizeof in);
    uint64_t v;
    veil_result r = veil_cursor_varint(&c, &v);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "truncated"));
    assert_int_equal(c.off, 0);
    veil_cursor e = veil_cursor_init(NULL, 0);
    assert_false(veil_ok(veil_cursor_varint(&e, &v)));

    veil_buf out;
    veil_buf_init(&out, 0);
    assert_int_equal(veil_buf_varint(&out, VEIL_VARINT_MAX + 1).cls, VEIL_E_USAGE);
    tu_ok(veil_buf_varint(&out, VEIL_VARINT_MAX));
    assert_int_equal(out.len, 8);
    veil_buf_free(&out);
}

static void test_sub_cursor_must_fit_and_be_consumed(void **state)
{
    const uint8_t in[] = {0x03, 'a', 'b', 'c', 0x05, 'x'};
    veil_cursor c = veil_cursor_init(in, sizeof in), sub;
    tu_ok(veil_cursor_sub_u8(&c, &sub));
    assert_int_equal(veil_cursor_remaining(&sub), 3);
    assert_false(veil_ok(veil_cursor_expect_end(&sub, "left over")));
    tu_ok(veil_cursor_skip(&sub, 3));
    tu_ok(veil_cursor_expect_end(&sub, "left over"));
    size_t before = c.off;
    veil_result r = veil_cursor_sub_varint(&c, &sub); /* claims 5, has 1 */
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_int_equal(c.off, before);
}

static void test_buffer_limit_and_patch(void **state)
{
    veil_buf b;
    veil_buf_init(&b, 4);
    tu_ok(veil_buf_u16(&b, 0));
    tu_ok(veil_buf_u8(&b, 7));
    assert_int_equal(veil_buf_u16(&b, 1).cls, VEIL_E_NOMEM);
    tu_ok(veil_buf_patch_u16(&b, 0, 0xBEEF));
    assert_false(veil_ok(veil_buf_patch_u16(&b, 2, 1)));
    const uint8_t want[] = {0xBE, 0xEF, 7};
    tu_assert_bytes(b.data, b.len, want, sizeof want);
    size_t n;
    uint8_t *p = veil_buf_detach(&b, &n);
    assert_int_equal(n, 3);
    assert_null(b.data);
    veil_free_wiped(p, n);
    veil_buf_free(&b);
}

static void test_ct_equal_and_wipe(void **state)
{
    uint8_t a[32], b[32];
    memset(a, 0x5A, sizeof a);
    memset(b, 0x5A, sizeof b);
    assert_true(veil_ct_equal(a, b, sizeof a));
    b[31] ^= 1;
    assert_false(veil_ct_equal(a, b, sizeof a));
    veil_wipe(a, sizeof a);
    for (size_t i = 0; i < sizeof a; i++)
        assert_int_equal(a[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_big_and_little_endian),
        cmocka_unit_test(test_varint_rfc9000_examples),
        cmocka_unit_test(test_varint_truncated_and_too_large),
        cmocka_unit_test(test_sub_cursor_must_fit_and_be_consumed),
        cmocka_unit_test(test_buffer_limit_and_patch),
        cmocka_unit_test(test_ct_equal_and_wipe),
    };
    return cmocka_run_group_tests_name("cursor", tests, NULL, NULL);
}
