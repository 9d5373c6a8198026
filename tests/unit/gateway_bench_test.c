/* The gateway's benchmark-only plain endpoint (veil_gateway_config's
 * bench_plain_endpoint, used by bench/gateway): off by default; when on, a
 * message/bhttp request is answered by the same handler as message/bhttp, any
 * other media type gets 415, and POST /gateway is unaffected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "veil/bhttp.h"
#include "veil/gateway.h"
#include "veil/http.h"
#include "veil/mem.h"

static veil_result echo(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    static const veil_app_header ct = {"content-type", "text/plain"};
    size_t n = 0;
    const uint8_t *p = veil_bhttp_content(req, &n);
    VEIL_GUARD(w->head(w->arg, 200, &ct, 1));
    VEIL_GUARD(w->body(w->arg, p, n));
    return w->end(w->arg);
}

static veil_gateway *start(bool plain, char *url, size_t cap)
{
    veil_ohttp_gateway *keys = NULL;
    veil_gateway *gw = NULL;
    tu_ok(veil_gateway_standalone_keys(&keys));
    veil_gateway_config c = {.keys = keys, .handler = echo, .bench_plain_endpoint = plain};
    tu_ok(veil_gateway_start(&c, &gw));
    snprintf(url, cap, "http://127.0.0.1:%u%s", veil_gateway_port(gw), VEIL_GATEWAY_PLAIN_PATH);
    return gw;
}

static void encoded_request(veil_buf *out)
{
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_bhttp_request_new("POST", "https", "gateway", "/echo", &m));
    tu_ok(veil_bhttp_set_content(m, "hello", 5));
    tu_ok(veil_bhttp_encode(m, VEIL_BHTTP_KNOWN_LENGTH, out));
    veil_bhttp_msg_free(m);
}

static void test_plain_answers_through_the_handler(void **state)
{
    (void)state;
    char url[96];
    veil_buf rq;
    veil_http_client_response out = {0};
    veil_bhttp_msg *m = NULL;
    size_t n = 0;
    veil_buf_init(&rq, 0);
    encoded_request(&rq);
    veil_gateway *gw = start(true, url, sizeof url);
    tu_ok(veil_http_post(url, VEIL_GATEWAY_MT_BHTTP, rq.data, rq.len, NULL, &out));
    assert_int_equal(out.status, 200);
    assert_true(veil_http_content_type_is(out.content_type, VEIL_GATEWAY_MT_BHTTP));
    tu_ok(veil_bhttp_decode(out.body.data, out.body.len, NULL, &m));
    assert_int_equal(veil_bhttp_status(m), 200);
    const uint8_t *p = veil_bhttp_content(m, &n);
    tu_assert_bytes(p, n, (const uint8_t *)"hello", 5);
    veil_bhttp_msg_free(m);
    veil_http_client_response_free(&out);

    /* another media type: 415 problem */
    tu_ok(veil_http_post(url, VEIL_OHTTP_MT_REQUEST, rq.data, rq.len, NULL, &out));
    assert_int_equal(out.status, 415);
    assert_true(veil_http_content_type_is(out.content_type, VEIL_HTTP_MT_PROBLEM));
    veil_http_client_response_free(&out);

    /* POST /gateway still wants OHTTP: plain Binary HTTP there is refused */
    char gw_url[96];
    snprintf(gw_url, sizeof gw_url, "http://127.0.0.1:%u%s", veil_gateway_port(gw),
             VEIL_GATEWAY_PATH);
    tu_ok(veil_http_post(gw_url, VEIL_GATEWAY_MT_BHTTP, rq.data, rq.len, NULL, &out));
    assert_int_equal(out.status, 415);
    veil_http_client_response_free(&out);
    veil_gateway_stop(gw);
    veil_buf_free(&rq);
}

static void test_plain_is_off_by_default(void **state)
{
    (void)state;
    char url[96];
    veil_buf rq;
    veil_http_client_response out = {0};
    veil_buf_init(&rq, 0);
    encoded_request(&rq);
    veil_gateway *gw = start(false, url, sizeof url);
    tu_ok(veil_http_post(url, VEIL_GATEWAY_MT_BHTTP, rq.data, rq.len, NULL, &out));
    assert_int_equal(out.status, 404);
    veil_http_client_response_free(&out);
    veil_gateway_stop(gw);
    veil_buf_free(&rq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_answers_through_the_handler),
        cmocka_unit_test(test_plain_is_off_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
