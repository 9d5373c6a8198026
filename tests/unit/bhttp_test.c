/* Binary HTTP (RFC 9292): the §5 examples decode to what the RFC shows and
 * re-encode byte for byte; every prefix of every example is either a valid
 * §3.8 truncation or a protocol error; builder -> encode -> decode round trips
 * in both framings; the streaming encoder; malformed input and limits. */
#include <string.h>

#include "testutil.h"
#include "veil/bhttp.h"
#include "veil/mem.h"
#include "veil/selftest.h"

/* RFC 9292 §5 and extras, as in shared/testdata/bhttp/rfc9292-examples.txt. */
#define REQ_KNOWN                                                                                  \
    "0003474554056874747073000a2f68656c6c6f2e747874406c0a757365722d6167656e74346375726c2f372e31"   \
    "362e33206c69626375726c2f372e31362e33204f70656e53534c2f302e392e376c207a6c69622f312e322e3304"   \
    "686f73740f7777772e6578616d706c652e636f6d0f6163636570742d6c616e677561676506656e2c206d690000"
#define REQ_INDET                                                                                  \
    "0203474554056874747073000a2f68656c6c6f2e7478740a757365722d6167656e74346375726c2f372e31362e"   \
    "33206c69626375726c2f372e31362e33204f70656e53534c2f302e392e376c207a6c69622f312e322e3304686f"   \
    "73740f7777772e6578616d706c652e636f6d0f6163636570742d6c616e677561676506656e2c206d6900000000"   \
    "000000000000000000"
#define RESP_INFO                                                                                  \
    "0340660772756e6e696e670a22736c65657020313522004067046c696e6b233c2f7374796c652e6373733e3b20"   \
    "72656c3d7072656c6f61643b2061733d7374796c65046c696e6b243c2f7363726970742e6a733e3b2072656c3d"   \
    "7072656c6f61643b2061733d7363726970740040c804646174651d4d6f6e2c203237204a756c20323030392031"   \
    "323a32383a353320474d5406736572766572064170616368650d6c6173742d6d6f6469666965641d5765642c20"   \
    "3232204a756c20323030392031393a31353a353620474d5404657461671422333461613338372d642d31353638"   \
    "6562303022"                                                                                   \
    "0d6163636570742d72616e6765730562797465730e636f6e74656e742d6c656e677468023531"                 \
    "04766172790f4163636570742d456e636f64696e670c636f6e74656e742d747970650a746578742f706c61696e"   \
    "003348656c6c6f20576f726c6421204d7920636f6e74656e7420696e636c75646573206120747261696c696e67"   \
    "2043524c462e0d0a0000"
#define CHUNKED_KNOWN                                                                              \
    "0140c8001d5468697320636f6e74656e7420636f6e7461696e732043524c462e0d0a0d07747261696c65720474"   \
    "657874"
#define CHUNKED_INDET                                                                              \
    "0340c8001d5468697320636f6e74656e7420636f6e7461696e732043524c462e0d0a0007747261696c65720474"   \
    "65787400"
#define MIN_REQ "00034745540568747470730b6578616d706c652e636f6d012f"
#define MIN_RESP "0140c8"

static const struct {
    const char *name, *hex;
    size_t valid_prefixes; /* prefixes (of any length) that decode: §3.8 */
} examples[] = {
    /* after control data; after header; after content; whole */
    {"request-known-length", REQ_KNOWN, 4},
    /* as above, then the 10 padding bytes one by one */
    {"request-indeterminate-length", REQ_INDET, 3 + 11},
    {"response-indeterminate-length-with-informational", RESP_INFO, 4},
    {"response-known-length-from-chunked", CHUNKED_KNOWN, 4},
    {"response-indeterminate-length-from-chunked", CHUNKED_INDET, 4},
    {"rfc9458-minimal-request", MIN_REQ, 1},
    {"rfc9458-minimal-response", MIN_RESP, 1},
};
#define NEXAMPLES (sizeof examples / sizeof examples[0])

static veil_bhttp_msg *decode_hex(const char *hex)
{
    veil_buf in;
    veil_bhttp_msg *m = NULL;
    tu_hex(&in, hex);
    tu_ok(veil_bhttp_decode(in.data, in.len, NULL, &m));
    veil_buf_free(&in);
    return m;
}

/* Decode from an exact-size heap copy, so ASan sees any read past the end. */
static veil_result decode_exact(const uint8_t *p, size_t n, const veil_bhttp_limits *lim,
                                veil_bhttp_msg **m)
{
    uint8_t *copy = n ? veil_calloc(n, 1) : NULL;
    if (n)
        memcpy(copy, p, n);
    veil_result r = veil_bhttp_decode(copy, n, lim, m);
    veil_free(copy);
    return r;
}

static void expect_error(const char *hex, const veil_bhttp_limits *lim, const char *substr)
{
    veil_buf in;
    veil_bhttp_msg *m = (veil_bhttp_msg *)&in; /* must be reset to NULL */
    tu_hex(&in, hex);
    veil_result r = decode_exact(in.data, in.len, lim, &m);
    veil_buf_free(&in);
    if (r.cls != VEIL_E_PROTOCOL || !r.msg || !strstr(r.msg, substr))
        fail_msg("%s: want protocol error with \"%s\", got [%s] %s", hex, substr,
                 veil_errclass_name(r.cls), r.msg ? r.msg : "(ok)");
    assert_null(m);
}

static void assert_field(veil_bhttp_field f, const char *name, const char *value)
{
    tu_assert_bytes(f.name, f.name_len, (const uint8_t *)name, strlen(name));
    tu_assert_bytes(f.value, f.value_len, (const uint8_t *)value, strlen(value));
    assert_int_equal(f.name[f.name_len], 0);
    assert_int_equal(f.value[f.value_len], 0);
}

static void assert_reencodes(const veil_bhttp_msg *m, veil_bhttp_framing f, const char *hex)
{
    veil_buf want, got;
    tu_hex(&want, hex);
    veil_buf_init(&got, 0);
    tu_ok(veil_bhttp_encode(m, f, &got));
    tu_assert_bytes(got.data, got.len, want.data, want.len);
    veil_buf_free(&want);
    veil_buf_free(&got);
}

/* ---- the RFC examples ----------------------------------------------------- */

static void test_examples_reencode_identically(void **state)
{
    for (size_t i = 0; i < NEXAMPLES; i++) {
        veil_bhttp_msg *m = decode_hex(examples[i].hex);
        assert_reencodes(m, veil_bhttp_framing_of(m), examples[i].hex);
        veil_bhttp_msg_free(m);
    }
}

static void test_vector_file_all_pass(void **state)
{
    size_t len;
    char *json = tu_read_testdata("bhttp/rfc9292-examples.json", &len);
    veil_selftest_report rep = {0, 0, NULL, NULL};
    tu_ok(veil_selftest_bhttp_json(json, len, &rep));
    assert_int_equal(rep.failed, 0);
    assert_int_equal(rep.passed, 7);
    tu_free(json);
}

static void test_known_request(void **state)
{
    veil_bhttp_msg *m = decode_hex(REQ_KNOWN);
    assert_true(veil_bhttp_is_request(m));
    assert_int_equal(veil_bhttp_framing_of(m), VEIL_BHTTP_KNOWN_LENGTH);
    assert_string_equal(veil_bhttp_method(m), "GET");
    assert_string_equal(veil_bhttp_scheme(m), "https");
    assert_string_equal(veil_bhttp_authority(m), ""); /* Host stays a header */
    assert_string_equal(veil_bhttp_path(m), "/hello.txt");
    veil_bhttp_fields h = veil_bhttp_headers(m);
    assert_int_equal(h.n, 3);
    assert_field(h.v[0], "user-agent", "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3");
    assert_field(h.v[1], "host", "www.example.com");
    assert_field(h.v[2], "accept-language", "en, mi");
    assert_ptr_equal(veil_bhttp_header_find(m, "Host"), &h.v[1]);
    assert_null(veil_bhttp_header_find(m, "cookie"));
    size_t clen;
    assert_null(veil_bhttp_content(m, &clen));
    assert_int_equal(clen, 0);
    assert_int_equal(veil_bhttp_trailers(m).n, 0);
    assert_int_equal(veil_bhttp_padding(m), 0);
    assert_int_equal(veil_bhttp_min_sections(m), 3); /* both trailing 0x00 present */
    assert_int_equal(veil_bhttp_status(m), 0);
    assert_int_equal(veil_bhttp_informational_count(m), 0);

    veil_bhttp_msg *indet = decode_hex(REQ_INDET);
    assert_true(veil_bhttp_msg_equal(m, indet));
    assert_int_equal(veil_bhttp_framing_of(indet), VEIL_BHTTP_INDETERMINATE);
    assert_int_equal(veil_bhttp_padding(indet), 10);
    veil_bhttp_set_padding(m, 10);
    assert_reencodes(m, VEIL_BHTTP_INDETERMINATE, REQ_INDET);
    veil_bhttp_set_padding(indet, 0);
    assert_reencodes(indet, VEIL_BHTTP_KNOWN_LENGTH, REQ_KNOWN);
    veil_bhttp_msg_free(m);
    veil_bhttp_msg_free(indet);
}

static void test_response_with_informational(void **state)
{
    veil_bhttp_msg *m = decode_hex(RESP_INFO);
    assert_false(veil_bhttp_is_request(m));
    assert_string_equal(veil_bhttp_method(m), "");
    assert_int_equal(veil_bhttp_status(m), 200);
    assert_int_equal(veil_bhttp_informational_count(m), 2);
    assert_int_equal(veil_bhttp_informational_status(m, 0), 102);
    assert_int_equal(veil_bhttp_informational_status(m, 1), 103);
    assert_int_equal(veil_bhttp_informational_status(m, 2), 0);
    veil_bhttp_fields f0 = veil_bhttp_informational_fields(m, 0);
    veil_bhttp_fields f1 = veil_bhttp_informational_fields(m, 1);
    assert_int_equal(f0.n, 1);
    assert_field(f0.v[0], "running", "\"sleep 15\"");
    assert_int_equal(f1.n, 2);
    assert_field(f1.v[0], "link", "</style.css>; rel=preload; as=style");
    assert_field(f1.v[1], "link", "</script.js>; rel=preload; as=script");
    assert_int_equal(veil_bhttp_informational_fields(m, 2).n, 0);
    veil_bhttp_fields h = veil_bhttp_headers(m);
    assert_int_equal(h.n, 8);
    assert_field(h.v[6], "vary", "Accept-Encoding");
    size_t clen;
    const uint8_t *c = veil_bhttp_content(m, &clen);
    const char *want = "Hello World! My content includes a trailing CRLF.\r\n";
    tu_assert_bytes(c, clen, (const uint8_t *)want, strlen(want));
    veil_bhttp_msg_free(m);
}

static void test_chunked_known_and_indeterminate_agree(void **state)
{
    veil_bhttp_msg *k = decode_hex(CHUNKED_KNOWN);
    veil_bhttp_msg *i = decode_hex(CHUNKED_INDET);
    assert_true(veil_bhttp_msg_equal(k, i));
    assert_int_equal(veil_bhttp_headers(k).n, 0);
    assert_int_equal(veil_bhttp_trailers(k).n, 1);
    assert_field(veil_bhttp_trailers(k).v[0], "trailer", "text");
    assert_reencodes(k, VEIL_BHTTP_INDETERMINATE, CHUNKED_INDET);
    assert_reencodes(i, VEIL_BHTTP_KNOWN_LENGTH, CHUNKED_KNOWN);
    veil_bhttp_msg_free(k);
    veil_bhttp_msg_free(i);
}

static void test_truncated_minimal_messages(void **state)
{
    veil_bhttp_msg *req = decode_hex(MIN_REQ);
    assert_string_equal(veil_bhttp_authority(req), "example.com");
    assert_string_equal(veil_bhttp_path(req), "/");
    assert_int_equal(veil_bhttp_min_sections(req), 0);
    veil_bhttp_msg *resp = decode_hex(MIN_RESP);
    assert_int_equal(veil_bhttp_status(resp), 200);
    /* truncated sections mean empty ones: the same message as full zeros */
    veil_bhttp_msg *full = decode_hex("0140c8000000");
    assert_true(veil_bhttp_msg_equal(resp, full));
    assert_int_equal(veil_bhttp_min_sections(full), 3);
    veil_bhttp_set_min_sections(resp, 3);
    assert_reencodes(resp, VEIL_BHTTP_KNOWN_LENGTH, "0140c8000000");
    assert_reencodes(resp, VEIL_BHTTP_INDETERMINATE, "0340c8000000");
    veil_bhttp_set_min_sections(full, 0);
    assert_reencodes(full, VEIL_BHTTP_INDETERMINATE, "0340c8");
    veil_bhttp_set_min_sections(full, 1);
    assert_reencodes(full, VEIL_BHTTP_KNOWN_LENGTH, "0140c800");
    /* non-empty parts are always written, whatever the truncation */
    tu_ok(veil_bhttp_add_trailer(full, "x", 1, "y", 1));
    assert_reencodes(full, VEIL_BHTTP_KNOWN_LENGTH, "0140c800000401780179");
    veil_bhttp_msg_free(req);
    veil_bhttp_msg_free(resp);
    veil_bhttp_msg_free(full);
}

/* §3.8: only the end of the control data, header or content (or padding) is a
 * valid place to stop; anywhere else is a protocol error, never a crash. */
static void test_every_prefix_of_every_example(void **state)
{
    for (size_t e = 0; e < NEXAMPLES; e++) {
        veil_buf in;
        tu_hex(&in, examples[e].hex);
        veil_bhttp_msg *whole = decode_hex(examples[e].hex);
        size_t valid = 0;
        for (size_t k = 0; k <= in.len; k++) {
            veil_bhttp_msg *m = NULL;
            veil_result r = decode_exact(in.data, k, NULL, &m);
            if (!veil_ok(r)) {
                assert_int_equal(r.cls, VEIL_E_PROTOCOL);
                assert_non_null(strstr(r.msg, "bhttp: "));
                assert_null(m);
                continue;
            }
            valid++;
            /* same control data; sections present only when they were sent */
            assert_int_equal(veil_bhttp_is_request(m), veil_bhttp_is_request(whole));
            assert_int_equal(veil_bhttp_status(m), veil_bhttp_status(whole));
            assert_string_equal(veil_bhttp_path(m), veil_bhttp_path(whole));
            assert_int_equal(veil_bhttp_informational_count(m),
                             veil_bhttp_informational_count(whole));
            if (veil_bhttp_min_sections(m) >= 1 || veil_bhttp_headers(whole).n == 0)
                assert_int_equal(veil_bhttp_headers(m).n, veil_bhttp_headers(whole).n);
            veil_bhttp_msg_free(m);
        }
        if (valid != examples[e].valid_prefixes)
            fail_msg("%s: %zu valid prefixes, want %zu", examples[e].name, valid,
                     examples[e].valid_prefixes);
        veil_bhttp_msg_free(whole);
        veil_buf_free(&in);
    }
}

/* ---- builders and round trips --------------------------------------------- */

static void roundtrip_both(const veil_bhttp_msg *m)
{
    veil_bhttp_framing fr[2] = {VEIL_BHTTP_KNOWN_LENGTH, VEIL_BHTTP_INDETERMINATE};
    for (int i = 0; i < 2; i++) {
        veil_buf enc;
        veil_bhttp_msg *back = NULL;
        veil_buf_init(&enc, 0);
        tu_ok(veil_bhttp_encode(m, fr[i], &enc));
        tu_ok(decode_exact(enc.data, enc.len, NULL, &back));
        assert_true(veil_bhttp_msg_equal(m, back));
        assert_int_equal(veil_bhttp_framing_of(back), fr[i]);
        assert_int_equal(veil_bhttp_padding(back), veil_bhttp_padding(m));
        assert_int_equal(veil_bhttp_is_request(back), veil_bhttp_is_request(m));
        veil_bhttp_msg_free(back);
        veil_buf_free(&enc);
    }
}

static void test_request_builder_roundtrip(void **state)
{
    static const size_t sizes[] = {0, 1, 63, 64, 16383, 16384, (size_t)1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        veil_bhttp_msg *m = NULL;
        tu_ok(veil_bhttp_request_new("POST", "https", "gateway.example", "/v1/chat?x=1", &m));
        tu_ok(veil_bhttp_add_header(m, "Content-Type", 12, "application/json", 16));
        tu_ok(veil_bhttp_add_header(m, "x-dup", 5, "a", 1));
        tu_ok(veil_bhttp_add_header(m, "x-dup", 5, "", 0));
        assert_field(veil_bhttp_headers(m).v[0], "content-type", "application/json");
        uint8_t *body = sizes[s] ? veil_calloc(sizes[s], 1) : NULL;
        for (size_t i = 0; i < sizes[s]; i++)
            body[i] = (uint8_t)(i * 7);
        tu_ok(veil_bhttp_set_content(m, body, sizes[s]));
        if (s % 2) {
            tu_ok(veil_bhttp_add_trailer(m, "digest", 6, "sha-256=abc", 11));
            veil_bhttp_set_padding(m, s * 5);
        }
        roundtrip_both(m);
        veil_bhttp_set_min_sections(m, 0);
        roundtrip_both(m);
        veil_free(body);
        veil_bhttp_msg_free(m);
    }
}

static void test_response_builder_roundtrip(void **state)
{
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_bhttp_response_new(200, &m));
    tu_ok(veil_bhttp_add_informational(m, 100));
    tu_ok(veil_bhttp_add_informational(m, 103));
    tu_ok(veil_bhttp_add_informational_field(m, "Link", 4, "</a.css>; rel=preload", 21));
    tu_ok(veil_bhttp_add_header(m, ":x-ext", 6, "1", 1)); /* extension pseudo-field first */
    tu_ok(veil_bhttp_add_header(m, "content-type", 12, "text/event-stream", 17));
    tu_ok(veil_bhttp_append_content(m, "data: a\n\n", 9));
    tu_ok(veil_bhttp_append_content(m, "data: b\n\n", 9));
    tu_ok(veil_bhttp_add_trailer(m, "server-timing", 13, "total;dur=12", 12));
    veil_bhttp_set_padding(m, 31);
    roundtrip_both(m);
    size_t clen;
    veil_bhttp_content(m, &clen);
    assert_int_equal(clen, 18);
    assert_int_equal(veil_bhttp_informational_fields(m, 0).n, 0);
    assert_field(veil_bhttp_informational_fields(m, 1).v[0], "link", "</a.css>; rel=preload");
    tu_ok(veil_bhttp_set_content(m, NULL, 0));
    veil_bhttp_content(m, &clen);
    assert_int_equal(clen, 0);
    roundtrip_both(m);
    veil_bhttp_msg_free(m);
    veil_bhttp_msg_free(NULL);
}

static void test_builders_refuse_what_decoding_rejects(void **state)
{
    veil_bhttp_msg *m = NULL, *r = NULL;
    assert_int_equal(veil_bhttp_response_new(199, &r).cls, VEIL_E_USAGE);
    assert_null(r);
    assert_int_equal(veil_bhttp_response_new(600, &r).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_request_new("G T", "https", "", "/", &m).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_request_new("", "https", "", "/", &m).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_request_new("GET", "https", "", "/a b", &m).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_request_new("GET", "https", "h\r\n", "/", &m).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_request_new("GET", NULL, "", "/", &m).cls, VEIL_E_USAGE);
    assert_null(m);
    tu_ok(veil_bhttp_request_new("GET", "https", "", "/", &m));
    tu_ok(veil_bhttp_response_new(204, &r));
    veil_result e = veil_bhttp_add_informational(r, 200);
    assert_int_equal(e.cls, VEIL_E_USAGE);
    assert_non_null(strstr(e.msg, "informational status outside 100..199"));
    assert_int_equal(veil_bhttp_add_informational(m, 103).cls, VEIL_E_USAGE);
    assert_int_equal(veil_bhttp_add_informational_field(r, "a", 1, "b", 1).cls, VEIL_E_USAGE);
    static const struct {
        const char *name, *value, *why;
    } bad[] = {
        {"", "v", "field name is empty"},
        {"a b", "v", "not allowed in a token"},
        {"a:b", "v", "not allowed in a token"},
        {":", "v", "empty after its colon"},
        {":path", "/", ":method, :scheme, :authority, :path or :status"},
        {":status", "200", ":method, :scheme"},
        {"x", "a\r\nb", "NUL, CR or LF"},
        {"x", " a", "starts or ends with whitespace"},
        {"x", "a\t", "starts or ends with whitespace"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e = veil_bhttp_add_header(m, bad[i].name, strlen(bad[i].name), bad[i].value,
                                  strlen(bad[i].value));
        assert_int_equal(e.cls, VEIL_E_USAGE);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("%s: %s", bad[i].name, e.msg);
    }
    e = veil_bhttp_add_header(m, "x", 1, "a\0b", 3);
    assert_int_equal(e.cls, VEIL_E_USAGE);
    tu_ok(veil_bhttp_add_header(m, "x", 1, "v", 1));
    e = veil_bhttp_add_header(m, ":x-ext", 6, "v", 1);
    assert_non_null(strstr(e.msg, "pseudo-field after a regular field"));
    e = veil_bhttp_add_trailer(m, ":x-ext", 6, "v", 1);
    assert_non_null(strstr(e.msg, "pseudo-field in a trailer section"));
    assert_int_equal(veil_bhttp_headers(m).n, 1);
    assert_int_equal(veil_bhttp_trailers(m).n, 0);
    veil_bhttp_msg_free(m);
    veil_bhttp_msg_free(r);
}

/* ---- streaming ------------------------------------------------------------ */

static void test_streamed_response(void **state)
{
    veil_bhttp_msg *m = NULL, *back = NULL;
    veil_buf out, whole;
    veil_buf_init(&out, 0);
    veil_buf_init(&whole, 0);
    tu_ok(veil_bhttp_response_new(200, &m));
    tu_ok(veil_bhttp_add_informational(m, 102));
    tu_ok(veil_bhttp_add_header(m, "content-type", 12, "text/event-stream", 17));
    tu_ok(veil_bhttp_encode_head(m, &out));
    static const char *const pieces[] = {"data: {\"a\":", "", "1}\n\n", "data: [DONE]\n\n"};
    for (size_t i = 0; i < 4; i++) {
        tu_ok(veil_bhttp_encode_chunk((const uint8_t *)pieces[i], strlen(pieces[i]), &out));
        tu_ok(veil_bhttp_append_content(m, pieces[i], strlen(pieces[i])));
    }
    tu_ok(veil_bhttp_add_trailer(m, "x-tokens", 8, "7", 1));
    tu_ok(veil_bhttp_encode_end(m, &out));
    tu_ok(decode_exact(out.data, out.len, NULL, &back));
    assert_true(veil_bhttp_msg_equal(m, back));
    veil_bhttp_msg_free(back);
    back = NULL;

    /* one chunk: the same bytes as the whole-message encoder */
    veil_buf_clear(&out);
    size_t clen;
    const uint8_t *c = veil_bhttp_content(m, &clen);
    tu_ok(veil_bhttp_encode_head(m, &out));
    tu_ok(veil_bhttp_encode_chunk(c, clen, &out));
    tu_ok(veil_bhttp_encode_end(m, &out));
    tu_ok(veil_bhttp_encode(m, VEIL_BHTTP_INDETERMINATE, &whole));
    tu_assert_bytes(out.data, out.len, whole.data, whole.len);

    /* no trailers: an empty trailer section */
    veil_buf_clear(&out);
    tu_ok(veil_bhttp_encode_head(m, &out));
    tu_ok(veil_bhttp_encode_end(NULL, &out));
    tu_ok(decode_exact(out.data, out.len, NULL, &back));
    assert_int_equal(veil_bhttp_trailers(back).n, 0);
    assert_int_equal(veil_bhttp_min_sections(back), 3);
    veil_bhttp_msg_free(back);
    veil_bhttp_msg_free(m);
    veil_buf_free(&out);
    veil_buf_free(&whole);
}

/* ---- malformed input ------------------------------------------------------ */

static void test_malformed(void **state)
{
    expect_error("", NULL, "input ends before the framing indicator");
    expect_error("40", NULL, "input ends before the framing indicator");
    expect_error("07", NULL, "unknown framing indicator");
    expect_error("4004", NULL, "unknown framing indicator");
    /* padding */
    expect_error(REQ_KNOWN "0001", NULL, "non-zero padding byte");
    expect_error(CHUNKED_INDET "80", NULL, "non-zero padding byte");
    /* status codes */
    expect_error("014063", NULL, "response status code outside 100..599");   /* 99 */
    expect_error("01425800", NULL, "response status code outside 100..599"); /* 600 */
    expect_error("03406600"
                 "425800",
                 NULL, "response status code outside 100..599");
    expect_error("01406600", NULL, "response ends before its final status");
    expect_error("014066", NULL, "input ends where a field section was expected");
    expect_error("034066", NULL, "field section ends without its terminator");
    /* field sections */
    expect_error("0140c805016100", NULL, "field section length exceeds input");
    expect_error("0140c8030161050000000000", NULL, "runs past the end of its section");
    expect_error("0140c8020161", NULL, "field line ends before its value length");
    expect_error("0140c8020000", NULL, "field name is empty");
    expect_error("0340c8016100", NULL, "field section ends without its terminator");
    expect_error("0340c80161", NULL, "field line ends before its value length");
    expect_error("0140c80401410162", NULL, "field name has uppercase letter");
    expect_error("0140c80603612062016200", NULL, "not allowed in a token");
    expect_error("0140c8050161022061", NULL, "starts or ends with whitespace");
    expect_error("0140c80501610261"
                 "0a",
                 NULL, "NUL, CR or LF");
    expect_error("0140c809073a73746174757300", NULL, ":status");
    expect_error("0140c80000"
                 "05023a780179",
                 NULL, "pseudo-field in a trailer");
    expect_error("0340c8"
                 "01780179"
                 "023a780179"
                 "00",
                 NULL, "pseudo-field after a regular");
    /* content */
    expect_error("0140c8000561", NULL, "content length exceeds input");
    expect_error("0340c8000561", NULL, "content chunk length exceeds input");
    expect_error("0340c8000161", NULL, "content ends without its zero-length terminator");
    expect_error("0340c80001610161", NULL, "content ends without its zero-length terminator");
    /* request control data */
    expect_error("0003474554", NULL, "request control data is truncated");
    expect_error("000347455405", NULL, "request control data length exceeds input");
    expect_error("000347205405"
                 "6874747073"
                 "00012f",
                 NULL, "method is not a token");
    expect_error("0000"
                 "0568747470730000",
                 NULL, "method is not a token");
    expect_error("00034745540568747470730003"
                 "2f0d0a",
                 NULL, "path has a control character");
    expect_error("000347455405687474707302"
                 "6120"
                 "012f",
                 NULL, "authority has a control");
}

static void test_accepted_variations(void **state)
{
    /* non-minimal varints (RFC 9292 §3) decode; re-encoding makes them minimal */
    veil_bhttp_msg *m = decode_hex("4001"
                                   "800000c8"
                                   "c000000000000000"
                                   "4000"
                                   "00");
    assert_int_equal(veil_bhttp_status(m), 200);
    assert_int_equal(veil_bhttp_informational_count(m), 0);
    assert_int_equal(veil_bhttp_framing_of(m), VEIL_BHTTP_KNOWN_LENGTH);
    assert_int_equal(veil_bhttp_min_sections(m), 3);
    veil_bhttp_msg_free(m);
    /* an extension pseudo-field before regular fields, several chunks */
    m = decode_hex("0340c8"
                   "023a780179"
                   "01780179"
                   "00"
                   "0161"
                   "026263"
                   "00"
                   "00");
    assert_int_equal(veil_bhttp_headers(m).n, 2);
    size_t clen;
    const uint8_t *c = veil_bhttp_content(m, &clen);
    tu_assert_bytes(c, clen, (const uint8_t *)"abc", 3);
    assert_reencodes(m, VEIL_BHTTP_INDETERMINATE,
                     "0340c8023a78017901780179000361626300"
                     "00");
    veil_bhttp_msg_free(m);
    /* obs-text and inner whitespace in values are fine; empty value too */
    m = decode_hex("0140c8"
                   "0c"
                   "0178"
                   "0361ff62"
                   "0179"
                   "03612062"
                   "00");
    assert_int_equal(veil_bhttp_headers(m).n, 2);
    veil_bhttp_msg_free(m);
}

static void test_limits(void **state)
{
    veil_bhttp_limits lim = {0};
    lim.max_fields = 2;
    expect_error(REQ_KNOWN, &lim, "too many field lines");
    lim.max_fields = 10; /* 3 informational + 8 header fields */
    expect_error(RESP_INFO, &lim, "too many field lines");
    lim.max_fields = 0;
    lim.max_field_bytes = 64;
    expect_error(REQ_KNOWN, &lim, "field lines exceed the size limit");
    lim.max_field_bytes = 0;
    lim.max_content = 50;
    expect_error(RESP_INFO, &lim, "content exceeds the size limit");
    expect_error("0340c800"
                 "1e"
                 "000000000000000000000000000000"
                 "000000000000000000000000000000"
                 "1e"
                 "000000000000000000000000000000"
                 "000000000000000000000000000000"
                 "0000",
                 &lim, "content exceeds the size limit");
    lim.max_content = 51; /* exactly the content: fine */
    veil_buf in;
    veil_bhttp_msg *m = NULL;
    tu_hex(&in, RESP_INFO);
    tu_ok(veil_bhttp_decode(in.data, in.len, &lim, &m));
    veil_bhttp_msg_free(m);
    lim.max_content = 0;
    lim.max_informational = 1;
    expect_error(RESP_INFO, &lim, "too many informational responses");
    lim.max_informational = 2;
    tu_ok(veil_bhttp_decode(in.data, in.len, &lim, &m));
    veil_bhttp_msg_free(m);
    veil_buf_free(&in);
    /* the defaults stop a flood of informational responses */
    veil_buf flood;
    veil_buf_init(&flood, 0);
    tu_ok(veil_buf_u8(&flood, 1));
    for (int i = 0; i < 1000; i++)
        tu_ok(veil_buf_append(&flood, "\x40\x64\x00", 3));
    tu_ok(veil_buf_append(&flood, "\x40\xc8", 2));
    veil_result r = veil_bhttp_decode(flood.data, flood.len, NULL, &m);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "too many informational responses"));
    veil_buf_free(&flood);
}

static void test_vector_file_format_errors(void **state)
{
    veil_selftest_report rep = {0, 0, NULL, NULL};
    static const char *const bad[] = {
        "not json",
        "{}",
        "{\"examples\": []}",
        "{\"examples\": [{\"id\": \"x\", \"hex\": \"0140c8\"}]}",
        "{\"examples\": [{\"id\": \"x\", \"hex\": \"0140c8\", \"decoded\": {\"framing_indicator\": "
        "1,"
        "\"header\": [], \"trailer\": [], \"content\": \"\", \"padding_bytes\": 0}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_selftest_bhttp_json(bad[i], strlen(bad[i]), &rep);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    }
    assert_int_equal(rep.passed + rep.failed, 0);
    /* well-formed, but the annotation is wrong: one failure, not an error */
    const char *wrong =
        "{\"examples\": [{\"id\": \"x\", \"hex\": \"0140c8\", \"decoded\": {"
        "\"framing_indicator\": 1, \"status\": 204, \"informational\": [],"
        "\"header\": [], \"trailer\": [], \"content\": \"\", \"padding_bytes\": 0}}]}";
    tu_ok(veil_selftest_bhttp_json(wrong, strlen(wrong), &rep));
    assert_int_equal(rep.failed, 1);
    assert_int_equal(rep.passed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_reencode_identically),
        cmocka_unit_test(test_vector_file_all_pass),
        cmocka_unit_test(test_known_request),
        cmocka_unit_test(test_response_with_informational),
        cmocka_unit_test(test_chunked_known_and_indeterminate_agree),
        cmocka_unit_test(test_truncated_minimal_messages),
        cmocka_unit_test(test_every_prefix_of_every_example),
        cmocka_unit_test(test_request_builder_roundtrip),
        cmocka_unit_test(test_response_builder_roundtrip),
        cmocka_unit_test(test_builders_refuse_what_decoding_rejects),
        cmocka_unit_test(test_streamed_response),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_accepted_variations),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_vector_file_format_errors),
    };
    return cmocka_run_group_tests_name("bhttp", tests, NULL, NULL);
}
