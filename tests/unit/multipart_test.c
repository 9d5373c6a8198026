/* multipart/form-data (RFC 7578): boundaries from Content-Type (quoted or
 * not), what curl, browsers and the OpenAI SDK send, preamble and epilogue,
 * empty and binary parts, limits, and a malformed case for every error the
 * parser names. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "veil/mem.h"
#include "veil/multipart.h"

#define CT "multipart/form-data; boundary=XyZ"

static veil_result parse(const char *ct, const char *body, const veil_multipart_limits *lim,
                         veil_multipart **m)
{
    return veil_multipart_parse(ct, (const uint8_t *)body, strlen(body), lim, m);
}

static void assert_part(const veil_multipart_part *p, const char *name, const char *filename,
                        const char *ctype, const char *data)
{
    assert_non_null(p);
    assert_string_equal(p->name, name);
    if (filename)
        assert_string_equal(p->filename, filename);
    else
        assert_null(p->filename);
    if (ctype)
        assert_string_equal(p->content_type, ctype);
    else
        assert_null(p->content_type);
    tu_assert_bytes(p->data, p->len, (const uint8_t *)data, strlen(data));
}

static void test_boundary(void **state)
{
    (void)state;
    char b[VEIL_MULTIPART_BOUNDARY_MAX + 1];
    tu_ok(veil_multipart_boundary("multipart/form-data; boundary=abc", b));
    assert_string_equal(b, "abc");
    tu_ok(veil_multipart_boundary("Multipart/Form-Data ;BOUNDARY=\"a b:c=d?\"; charset=x", b));
    assert_string_equal(b, "a b:c=d?");
    tu_ok(veil_multipart_boundary("multipart/form-data; x=\"q\\\"uoted;\"; boundary=z;", b));
    assert_string_equal(b, "z");
    /* clients leave '=' and '/' unquoted */
    tu_ok(veil_multipart_boundary("multipart/form-data;boundary=a=b/c", b));
    assert_string_equal(b, "a=b/c");
    char b70[80];
    memset(b70, 'a', 70);
    b70[70] = '\0';
    char ct[128];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    tu_ok(veil_multipart_boundary(ct, b));
    assert_string_equal(b, b70);

    static const char *const bad[] = {
        NULL,
        "",
        "application/json",
        "multipart/mixed; boundary=abc",
        "multipart/form-data",
        "multipart/form-data; charset=utf-8",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"abc",
        "multipart/form-data; boundary=\"abc \"",
        "multipart/form-data; boundary=a<b",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data; boundary",
        "multipart/form-data boundary=abc",
        "multipart/form-data; =abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_multipart_boundary(bad[i], b);
        if (veil_ok(r))
            fail_msg("accepted bad Content-Type #%zu", i);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_memory_equal(r.msg, "multipart: ", 11);
        assert_string_equal(b, "");
    }
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sa", b70);
    assert_false(veil_ok(veil_multipart_boundary(ct, b)));
}

/* What curl -F file=@a.wav -F model=whisper-1 sends (the OpenAI SDK is alike). */
static void test_curl_form(void **state)
{
    (void)state;
    static const char body[] =
        "--------------------------d74496d66958873e\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
        "Content-Type: audio/x-wav\r\n"
        "\r\n"
        "RIFF\r\n--not-the-boundary\r\n\0\xff"
        "\r\n"
        "--------------------------d74496d66958873e\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n"
        "\r\n"
        "whisper-1\r\n"
        "--------------------------d74496d66958873e--\r\n";
    veil_multipart *m = NULL;
    tu_ok(veil_multipart_parse(
        "multipart/form-data; boundary=------------------------d74496d66958873e",
        (const uint8_t *)body, sizeof body - 1, NULL, &m));
    assert_int_equal(veil_multipart_count(m), 2);
    const veil_multipart_part *f = veil_multipart_find(m, "file");
    assert_non_null(f);
    assert_string_equal(f->filename, "a.wav");
    assert_string_equal(f->content_type, "audio/x-wav");
    tu_assert_bytes(f->data, f->len, (const uint8_t *)"RIFF\r\n--not-the-boundary\r\n\0\xff", 28);
    assert_part(veil_multipart_find(m, "model"), "model", NULL, NULL, "whisper-1");
    assert_ptr_equal(veil_multipart_get(m, 0), f);
    assert_null(veil_multipart_get(m, 2));
    assert_null(veil_multipart_find(m, "Model")); /* names are case-sensitive */
    veil_multipart_free(m);
}

static void test_variations(void **state)
{
    (void)state;
    veil_multipart *m = NULL;
    /* preamble, transport padding, header name case, unquoted and escaped
     * values, empty part, empty filename, unknown headers, epilogue */
    tu_ok(parse(CT,
                "preamble line\r\nmore\r\n--XyZ  \t\r\n"
                "content-disposition: FORM-DATA; filename=\"q\\\"x.wav\";name=a\r\n"
                "X-Other: ignored\r\n"
                "Content-Transfer-Encoding: binary\r\n"
                "\r\n"
                "1\r\n--XyZ\r\n"
                "Content-Disposition: form-data; name=\"\"; filename=\"\"\r\n\r\n"
                "\r\n--XyZ\r\n"
                "Content-Disposition: form-data; name=\"b\"; filename*=UTF-8''x\r\n"
                "Content-Type:  text/plain; charset=utf-8  \r\n\r\n"
                "two\r\nlines\r\n--XyZ--epilogue\r\n--XyZ\r\nignored",
                NULL, &m));
    assert_int_equal(veil_multipart_count(m), 3);
    assert_part(veil_multipart_get(m, 0), "a", "q\"x.wav", NULL, "1");
    assert_part(veil_multipart_get(m, 1), "", "", NULL, "");
    assert_null(veil_multipart_get(m, 1)->data);
    assert_part(veil_multipart_get(m, 2), "b", NULL, "text/plain; charset=utf-8", "two\r\nlines");
    veil_multipart_free(m);

    /* UTF-8 filename sent raw, as browsers do; a part with only "--" close */
    tu_ok(parse(CT,
                "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
                "filename=\"\xc3\xa9t\xc3\xa9.ogg\"\r\n\r\n\r\n--XyZ--",
                NULL, &m));
    assert_part(veil_multipart_get(m, 0), "f", "\xc3\xa9t\xc3\xa9.ogg", NULL, "");
    veil_multipart_free(m);
    veil_multipart_free(NULL);
    assert_int_equal(veil_multipart_count(NULL), 0);
}

static void test_limits(void **state)
{
    (void)state;
    veil_multipart *m = NULL;
    const char *three = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n22\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=c; filename=x\r\n\r\n"
                        "333\r\n--XyZ--";
    veil_multipart_limits lim = {.max_parts = 3};
    tu_ok(parse(CT, three, &lim, &m));
    veil_multipart_free(m);
    lim.max_parts = 2;
    veil_result r = parse(CT, three, &lim, &m);
    assert_int_equal(r.cls, VEIL_E_NOMEM);
    assert_string_equal(r.msg, "multipart: too many parts");
    assert_null(m);

    lim = (veil_multipart_limits){.max_field_bytes = 1}; /* a file part is not a field */
    r = parse(CT, three, &lim, &m);
    assert_string_equal(r.msg, "multipart: form field is too large");
    lim = (veil_multipart_limits){.max_field_bytes = 2, .max_part_bytes = 3};
    tu_ok(parse(CT, three, &lim, &m));
    veil_multipart_free(m);
    lim.max_part_bytes = 2;
    r = parse(CT, three, &lim, &m);
    assert_int_equal(r.cls, VEIL_E_NOMEM);
    assert_string_equal(r.msg, "multipart: part is too large");

    lim = (veil_multipart_limits){.max_header_bytes = 44};
    r = parse(CT, three, &lim, &m);
    assert_int_equal(r.cls, VEIL_E_NOMEM);
    assert_string_equal(r.msg, "multipart: part header block is too large");
    lim.max_header_bytes = 45; /* "Content-Disposition: form-data; name=a\r\n\r\n" is 42 */
    r = parse(CT, three, &lim, &m);
    assert_false(veil_ok(r)); /* the third part's header is longer */
    lim.max_header_bytes = 60;
    tu_ok(parse(CT, three, &lim, &m));
    veil_multipart_free(m);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"", "multipart: body has no opening boundary"},
        {"--XyY\r\n", "multipart: body has no opening boundary"},
        {"x--XyZ\r\n", "multipart: body has no opening boundary"},
        {"--XyZ--", "multipart: form has no parts"},
        {"--XyZ", "multipart: body ends after a boundary without the closing \"--\""},
        {"--XyZx\r\n", "multipart: boundary line has unexpected bytes (is the boundary inside a "
                       "part?)"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n",
         "multipart: body ends inside a part's headers"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc",
         "multipart: body ends inside a part (no closing boundary)"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--XyZ",
         "multipart: body ends after a boundary without the closing \"--\""},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--XyZz\r\n--XyZ--",
         "multipart: boundary line has unexpected bytes (is the boundary inside a part?)"},
        {"--XyZ\r\n\r\nabc\r\n--XyZ--", "multipart: part has no Content-Disposition header"},
        {"--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--",
         "multipart: part has no Content-Disposition header"},
        {"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Disposition is not form-data"},
        {"--XyZ\r\nContent-Disposition: form-data\r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Disposition has no name"},
        {"--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Disposition has no name"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--XyZ--",
         "multipart: Content-Disposition repeats a parameter"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
         "name=a\r\n\r\n\r\n--XyZ--",
         "multipart: part has two Content-Disposition headers"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-Type: "
         "b\r\n\r\n\r\n--XyZ--",
         "multipart: part has two Content-Type headers"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: \r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Type is empty"},
        {"--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Disposition has no name"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n folded\r\n\r\n\r\n--XyZ--",
         "multipart: folded (obsolete) header line in a part"},
        {"--XyZ\r\nContent-Disposition form-data; name=a\r\n\r\n\r\n--XyZ--",
         "multipart: part header name has an invalid character"},
        {"--XyZ\r\nContent-Disposition\r\n\r\n\r\n--XyZ--",
         "multipart: part header line has no colon"},
        {"--XyZ\r\n: x\r\n\r\n\r\n--XyZ--", "multipart: part header name is empty"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n\r\n--XyZ--",
         "multipart: control character in a part header (bare CR or LF?)"},
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--XyZ--",
         "multipart: quoted parameter value is not closed"},
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\\\r\n\r\n\r\n--XyZ--",
         "multipart: quoted parameter value ends in a backslash"},
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\n\r\n--XyZ--",
         "multipart: control character in a part header (bare CR or LF?)"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\"b\r\n\r\n\r\n--XyZ--",
         "multipart: invalid character in a parameter value"},
        {"--XyZ\r\nContent-Disposition: form-data; name=\r\n\r\n\r\n--XyZ--",
         "multipart: parameter has an empty value"},
        {"--XyZ\r\nContent-Disposition: form-data; name a\r\n\r\n\r\n--XyZ--",
         "multipart: header parameter lacks '='"},
        {"--XyZ\r\nContent-Disposition: form-data; =a\r\n\r\n\r\n--XyZ--",
         "multipart: header parameter has no name"},
        {"--XyZ\r\nContent-Disposition: form-data name=a\r\n\r\n\r\n--XyZ--",
         "multipart: part's Content-Disposition is not form-data"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a b\r\n\r\n\r\n--XyZ--",
         "multipart: expected ';' before a header parameter"},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
         "base64\r\n\r\n\r\n--XyZ--",
         "multipart: part uses a Content-Transfer-Encoding other than binary"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_multipart *m = NULL;
        veil_result r = parse(CT, bad[i].body, NULL, &m);
        if (veil_ok(r))
            fail_msg("accepted malformed body #%zu", i);
        if (strcmp(r.msg, bad[i].msg) != 0)
            fail_msg("body #%zu: got \"%s\", want \"%s\"", i, r.msg, bad[i].msg);
        assert_true(r.cls == VEIL_E_PROTOCOL || r.cls == VEIL_E_UNSUPPORTED);
        assert_null(m);
    }
    /* LF-only line endings (not RFC 2046) are refused with a clear error */
    veil_multipart *m = NULL;
    veil_result r =
        parse(CT, "--XyZ\nContent-Disposition: form-data; name=a\n\nabc\n--XyZ--\n", NULL, &m);
    assert_false(veil_ok(r));
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),   cmocka_unit_test(test_curl_form),
        cmocka_unit_test(test_variations), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
