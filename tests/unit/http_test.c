/* HTTP module: a server on 127.0.0.1 (port 0) and the client against it.
 * Round trips, problem+json, body limits, streaming both ways (each side
 * sees piece 1 before the other produces piece 2: a condition-variable
 * handshake with bounded waits), timeouts, graceful stop, IPv6. Every wait
 * is bounded; every server is stopped by the test that started it. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "veil/http.h"
#include "veil/mem.h"

#define WAIT_MS 5000

/* ---- shared test state ------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* streamed response */
    int resp_step;         /* pieces the server produced */
    int client_pieces;     /* pieces the client received */
    bool saw_ack_before_2; /* server produced piece 2 only after the client had piece 1 */
    /* streamed request */
    size_t up_bytes;
    int up_calls;
    char up_data[64];
    /* graceful stop */
    bool hold_entered, hold_release;
    int handler_calls;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void reset_state(void)
{
    pthread_mutex_lock(&T.mu);
    T.resp_step = T.client_pieces = T.up_calls = T.handler_calls = 0;
    T.up_bytes = 0;
    T.saw_ack_before_2 = T.hold_entered = T.hold_release = false;
    memset(T.up_data, 0, sizeof T.up_data);
    pthread_mutex_unlock(&T.mu);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (T.mu held) until *flag is true, at most ms; returns the flag. */
static bool wait_flag(const bool *flag, int ms)
{
    int64_t end = now_ms() + ms;
    while (!*flag && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&T.cv, &T.mu, &ts);
    }
    return *flag;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the test server's handlers ------------------------------------------------ */

static ssize_t stream_reader(void *ctx, uint8_t *buf, size_t cap)
{
    static const char *const pieces[] = {"alpha-", "beta-", "gamma"};
    ssize_t n = 0;
    pthread_mutex_lock(&T.mu);
    if (T.resp_step == 1) { /* piece 2 waits for the client to have piece 1 */
        bool got = false;
        int64_t end = now_ms() + WAIT_MS;
        while (!(got = T.client_pieces >= 1) && now_ms() < end) {
            pthread_mutex_unlock(&T.mu);
            sleep_ms(5);
            pthread_mutex_lock(&T.mu);
        }
        T.saw_ack_before_2 = got;
    }
    if (T.resp_step < 3) {
        const char *p = pieces[T.resp_step++];
        n = (ssize_t)strlen(p);
        if ((size_t)n > cap)
            n = VEIL_HTTP_STREAM_ERROR;
        else
            memcpy(buf, p, (size_t)n);
    }
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
    return n;
}

static int upload_piece(void *ctx, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&T.mu);
    if (T.up_bytes + n <= sizeof T.up_data - 1)
        memcpy(T.up_data + T.up_bytes, p, n);
    T.up_bytes += n;
    T.up_calls++;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
    return 0;
}

static void begin(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    if (!strcmp(path, "/upload"))
        veil_http_req_stream_body(req, upload_piece, NULL);
    else if (!strcmp(path, "/early"))
        veil_http_problem(resp, 429, "slow-down", NULL, "early answer");
}

static bool add_header_json(void *ctx, const char *name, const char *value)
{
    json_object_set_new(ctx, name, json_string(value));
    return true;
}

static void echo(veil_http_request *req, veil_http_response *resp)
{
    size_t n;
    const uint8_t *body = veil_http_req_body(req, &n);
    const char *ct = veil_http_req_header(req, "content-type");
    if (!strcmp(veil_http_req_method(req), "POST")) {
        veil_http_resp_set(resp, 200, ct ? ct : "application/octet-stream", body, n);
        veil_http_resp_header(resp, "X-Echo", "yes");
        return;
    }
    json_t *hdrs = json_object();
    veil_http_req_headers(req, add_header_json, hdrs);
    const char *a = veil_http_req_query_param(req, "a");
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:o}", "method", veil_http_req_method(req),
                            "path", veil_http_req_path(req), "query", veil_http_req_query(req),
                            "client", veil_http_req_client_addr(req), "a", a, "headers", hdrs);
    char *s = json_dumps(doc, JSON_COMPACT);
    veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, s, strlen(s));
    json_decref(doc);
    free(s); /* jansson's allocation */
}

static void handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    pthread_mutex_lock(&T.mu);
    T.handler_calls++;
    pthread_mutex_unlock(&T.mu);
    if (!strncmp(path, "/echo", 5)) {
        echo(req, resp);
    } else if (!strcmp(path, "/stream")) {
        veil_http_resp_stream(resp, 200, "text/plain", stream_reader, NULL);
    } else if (!strcmp(path, "/upload")) {
        char msg[64];
        pthread_mutex_lock(&T.mu);
        int k = snprintf(msg, sizeof msg, "%zu bytes in %d pieces", T.up_bytes, T.up_calls);
        pthread_mutex_unlock(&T.mu);
        veil_http_resp_set(resp, 200, "text/plain", msg, (size_t)k);
    } else if (!strcmp(path, "/slow")) {
        sleep_ms(1500);
        veil_http_resp_set(resp, 200, "text/plain", "late", 4);
    } else if (!strcmp(path, "/big")) {
        static uint8_t big[10000];
        veil_http_resp_set(resp, 200, "application/octet-stream", big, sizeof big);
    } else if (!strcmp(path, "/hold")) {
        pthread_mutex_lock(&T.mu);
        T.hold_entered = true;
        pthread_cond_broadcast(&T.cv);
        wait_flag(&T.hold_release, WAIT_MS);
        pthread_mutex_unlock(&T.mu);
        veil_http_resp_set(resp, 200, "text/plain", "held", 4);
    } else if (!strcmp(path, "/bad-header")) {
        veil_http_resp_set(resp, 200, "text/plain", "x", 1);
        veil_http_resp_header(resp, "X-Split", "a\r\nInjected: 1");
    } else if (!strcmp(path, "/nothing")) {
        /* builds no response: the module answers 500 */
    } else {
        veil_http_problem(resp, 404, "not-found", "Not Found",
                          "no \"route\" here\n(control: \x01)");
    }
}

static void on_abort(void *ctx)
{
    pthread_mutex_lock(&T.mu);
    T.hold_release = true;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
}

static veil_http_server *start(const char *addr, size_t max_body, unsigned timeout_s,
                               unsigned grace_ms)
{
    veil_http_server_config cfg = {.address = addr,
                                   .max_body = max_body,
                                   .timeout_s = timeout_s,
                                   .stop_grace_ms = grace_ms,
                                   .begin = begin,
                                   .handler = handler,
                                   .on_abort = on_abort};
    veil_http_server *s = NULL;
    reset_state();
    tu_ok(veil_http_server_start(&cfg, &s));
    assert_non_null(s);
    assert_int_not_equal(veil_http_server_port(s), 0);
    return s;
}

static void url(char *out, size_t n, veil_http_server *s, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%u%s", veil_http_server_port(s), path);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_get_and_post_round_trip(void **state)
{
    veil_http_server *s = start(NULL, 0, 0, 0);
    char u[128];
    veil_http_client_response r;
    veil_http_header h[] = {{"X-Test", "hi there"}};

    url(u, sizeof u, s, "/echo/a%2Fb?a=1%202&b=two");
    veil_http_client_request req = {.url = u, .headers = h, .n_headers = 1};
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, VEIL_HTTP_MT_JSON);
    json_t *doc = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(doc, "path")), "/echo/a%2Fb");
    assert_string_equal(json_string_value(json_object_get(doc, "query")), "a=1%202&b=two");
    assert_string_equal(json_string_value(json_object_get(doc, "a")), "1 2");
    assert_string_equal(json_string_value(json_object_get(doc, "client")), "127.0.0.1");
    json_t *hdrs = json_object_get(doc, "headers");
    assert_string_equal(json_string_value(json_object_get(hdrs, "X-Test")), "hi there");
    /* The client sends no Accept, Expect or User-Agent of its own. */
    assert_null(json_object_get(hdrs, "Accept"));
    assert_null(json_object_get(hdrs, "Expect"));
    assert_null(json_object_get(hdrs, "User-Agent"));
    json_decref(doc);
    veil_http_client_response_free(&r);

    uint8_t body[10000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7);
    url(u, sizeof u, s, "/echo");
    tu_ok(veil_http_post(u, "application/x-test", body, sizeof body, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/x-test");
    tu_assert_bytes(r.body.data, r.body.len, body, sizeof body);
    veil_http_client_response_free(&r);

    /* An empty POST. */
    tu_ok(veil_http_post(u, "application/x-test", NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    veil_http_client_response_free(&r);
    veil_http_server_stop(s);
}

static void test_problem_json(void **state)
{
    veil_http_server *s = start(NULL, 0, 0, 0);
    char u[128];
    veil_http_client_response r;
    url(u, sizeof u, s, "/nope");
    tu_ok(veil_http_get(u, NULL, &r));
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, VEIL_HTTP_MT_PROBLEM);
    json_t *doc = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "type")),
                        "https://veil.dev/problems/not-found");
    assert_string_equal(json_string_value(json_object_get(doc, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(doc, "detail")),
                        "no \"route\" here\n(control: \x01)");
    assert_int_equal(json_object_size(doc), 4);
    json_decref(doc);
    veil_http_client_response_free(&r);

    /* A response the handler got wrong, or never built, is a 500 problem. */
    const char *const broken[] = {"/bad-header", "/nothing"};
    for (size_t i = 0; i < 2; i++) {
        url(u, sizeof u, s, broken[i]);
        tu_ok(veil_http_get(u, NULL, &r));
        assert_int_equal(r.status, 500);
        assert_string_equal(r.content_type, VEIL_HTTP_MT_PROBLEM);
        veil_http_client_response_free(&r);
    }
    /* An early answer from begin, on a request without a body. */
    url(u, sizeof u, s, "/early");
    tu_ok(veil_http_get(u, NULL, &r));
    assert_int_equal(r.status, 429);
    veil_http_client_response_free(&r);
    veil_http_server_stop(s);

    /* about:blank with the reason phrase; bad slugs are refused. */
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_http_problem_encode(503, NULL, NULL, NULL, &b));
    const char want[] =
        "{\"status\":503,\"title\":\"Service Unavailable\",\"type\":\"about:blank\"}";
    tu_assert_bytes(b.data, b.len, (const uint8_t *)want, sizeof want - 1);
    assert_false(veil_ok(veil_http_problem_encode(400, "Bad Slug", NULL, NULL, &b)));
    assert_false(veil_ok(veil_http_problem_encode(400, "x", NULL, "\xff\xfe", &b)));
    assert_false(veil_ok(veil_http_problem_encode(99, "x", NULL, NULL, &b)));
    veil_buf_free(&b);

    assert_true(veil_http_content_type_is(" Message/OHTTP-req ; x=1", "message/ohttp-req"));
    assert_false(veil_http_content_type_is("message/ohttp-reqx", "message/ohttp-req"));
    assert_false(veil_http_content_type_is(NULL, "message/ohttp-req"));
}

struct chunked_body {
    size_t total, sent;
};

static ssize_t read_zeros(void *ctx, uint8_t *buf, size_t cap)
{
    struct chunked_body *b = ctx;
    size_t n = b->total - b->sent < cap ? b->total - b->sent : cap;
    if (n > 1000)
        n = 1000;
    memset(buf, 'z', n);
    b->sent += n;
    return (ssize_t)n;
}

static void test_body_too_large(void **state)
{
    veil_http_server *s = start(NULL, 1024, 0, 0);
    char u[128];
    veil_http_client_response r;
    static uint8_t body[4096];
    url(u, sizeof u, s, "/echo");

    /* At the limit: accepted. */
    tu_ok(veil_http_post(u, "application/x-test", body, 1024, NULL, &r));
    assert_int_equal(r.status, 200);
    veil_http_client_response_free(&r);
    /* A declared length over it: 413 before the body is read. */
    tu_ok(veil_http_post(u, "application/x-test", body, sizeof body, NULL, &r));
    assert_int_equal(r.status, 413);
    assert_string_equal(r.content_type, VEIL_HTTP_MT_PROBLEM);
    veil_http_client_response_free(&r);
    /* A chunked body that grows past it, a little: read, dropped, 413. */
    struct chunked_body cb = {.total = 3000};
    veil_http_client_request req = {
        .url = u, .content_type = "application/x-test", .read_body = read_zeros, .read_ctx = &cb};
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 413);
    veil_http_client_response_free(&r);
    /* A streamed upload past the limit gets 413 too, and never reaches the handler. */
    url(u, sizeof u, s, "/upload");
    cb = (struct chunked_body){.total = 2048};
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 413);
    veil_http_client_response_free(&r);
    /* Far past it: the connection is closed rather than read to the end. */
    cb = (struct chunked_body){.total = (size_t)8 << 20};
    assert_false(veil_ok(veil_http_fetch(&req, NULL, &r)));
    assert_true(cb.sent < cb.total);
    veil_http_client_response_free(&r);
    pthread_mutex_lock(&T.mu);
    assert_int_equal(T.handler_calls, 1); /* only the first POST */
    pthread_mutex_unlock(&T.mu);
    veil_http_server_stop(s);
}

static int got_piece(void *ctx, const uint8_t *p, size_t n)
{
    veil_buf *b = ctx;
    if (!veil_ok(veil_buf_append(b, p, n)))
        return 1;
    pthread_mutex_lock(&T.mu);
    T.client_pieces++;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
    return 0;
}

static int head_seen(void *ctx, long status, const char *ct) { return status == 200 ? 0 : 1; }

static void test_streamed_response_arrives_in_pieces(void **state)
{
    veil_http_server *s = start(NULL, 0, 0, 0);
    char u[128];
    veil_http_client_response r;
    veil_buf got;
    veil_buf_init(&got, 1024);
    url(u, sizeof u, s, "/stream");
    veil_http_client_request req = {.url = u};
    veil_http_client_sink sink = {.on_head = head_seen, .on_body = got_piece, .ctx = &got};
    tu_ok(veil_http_fetch_stream(&req, NULL, &sink, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain");
    assert_int_equal(r.body.len, 0);
    tu_assert_bytes(got.data, got.len, (const uint8_t *)"alpha-beta-gamma", 16);
    pthread_mutex_lock(&T.mu);
    assert_true(T.saw_ack_before_2);
    assert_true(T.client_pieces >= 2);
    pthread_mutex_unlock(&T.mu);
    veil_buf_free(&got);
    veil_http_client_response_free(&r);
    veil_http_server_stop(s);
}

struct upload {
    int step;
    bool server_had_previous; /* every piece after the first waited for the server */
};

static ssize_t read_pieces(void *ctx, uint8_t *buf, size_t cap)
{
    static const char *const pieces[] = {"one|", "two|", "three"};
    struct upload *u = ctx;
    if (u->step == 3)
        return 0;
    if (u->step > 0) { /* piece k+1 only once the server has piece k */
        size_t want = 0;
        for (int i = 0; i < u->step; i++)
            want += strlen(pieces[i]);
        pthread_mutex_lock(&T.mu);
        int64_t end = now_ms() + WAIT_MS;
        while (T.up_bytes < want && now_ms() < end) {
            pthread_mutex_unlock(&T.mu);
            sleep_ms(5);
            pthread_mutex_lock(&T.mu);
        }
        if (T.up_bytes < want)
            u->server_had_previous = false;
        pthread_mutex_unlock(&T.mu);
    }
    size_t n = strlen(pieces[u->step]);
    assert_true(n <= cap);
    memcpy(buf, pieces[u->step++], n);
    return (ssize_t)n;
}

static void test_streamed_request_body(void **state)
{
    veil_http_server *s = start(NULL, 0, 0, 0);
    char u[128];
    veil_http_client_response r;
    struct upload up = {.server_had_previous = true};
    url(u, sizeof u, s, "/upload");
    veil_http_client_request req = {
        .url = u, .content_type = "text/plain", .read_body = read_pieces, .read_ctx = &up};
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_true(up.server_had_previous);
    pthread_mutex_lock(&T.mu);
    assert_string_equal(T.up_data, "one|two|three");
    assert_true(T.up_calls >= 3);
    pthread_mutex_unlock(&T.mu);
    veil_http_client_response_free(&r);

    /* With a known length (Content-Length) as well. */
    reset_state();
    up = (struct upload){.server_had_previous = true};
    req.read_len = 13;
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_true(up.server_had_previous);
    tu_assert_bytes(r.body.data, r.body.len, (const uint8_t *)"13 bytes in 3 pieces", 20);
    veil_http_client_response_free(&r);
    veil_http_server_stop(s);
}

static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_timeouts_and_limits(void **state)
{
    veil_http_server *s = start(NULL, 0, 1, 0);
    char u[128];
    veil_http_client_response r;

    /* The whole-exchange timeout. */
    url(u, sizeof u, s, "/slow");
    veil_http_client_opts o = {.timeout_ms = 300};
    int64_t t0 = now_ms();
    assert_false(veil_ok(veil_http_get(u, &o, &r)));
    assert_int_equal(r.failure, VEIL_HTTP_FAIL_TIMEOUT);
    assert_true(now_ms() - t0 < 1200);
    veil_http_client_response_free(&r);

    /* Nothing listening. */
    snprintf(u, sizeof u, "http://127.0.0.1:%u/", closed_port());
    assert_false(veil_ok(veil_http_get(u, NULL, &r)));
    assert_int_equal(r.failure, VEIL_HTTP_FAIL_CONNECT);
    veil_http_client_response_free(&r);

    /* A response over max_response. */
    url(u, sizeof u, s, "/big");
    o = (veil_http_client_opts){.max_response = 1000};
    assert_false(veil_ok(veil_http_get(u, &o, &r)));
    assert_int_equal(r.failure, VEIL_HTTP_FAIL_TOO_LARGE);
    veil_http_client_response_free(&r);

    /* Bad URLs and headers never reach the network. */
    assert_false(veil_ok(veil_http_get("ftp://127.0.0.1/", NULL, &r)));
    veil_http_client_response_free(&r);
    veil_http_header bad[] = {{"X-Bad", "a\r\nb: c"}};
    veil_http_client_request req = {.url = u, .headers = bad, .n_headers = 1};
    assert_false(veil_ok(veil_http_fetch(&req, NULL, &r)));
    assert_int_equal(r.failure, VEIL_HTTP_FAIL_USAGE);
    veil_http_client_response_free(&r);
    tu_ok(veil_http_url_check("https://gw.example:8443/ohttp"));
    assert_false(veil_ok(veil_http_url_check("https://user:pw@gw.example/")));
    assert_false(veil_ok(veil_http_url_check("file:///etc/passwd")));
    assert_false(veil_ok(veil_http_url_check("not a url")));

    /* The server's idle timeout (1 s) closes a silent connection. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(veil_http_server_port(s)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char c;
    t0 = now_ms();
    assert_true(recv(fd, &c, 1, 0) <= 0);
    assert_true(now_ms() - t0 < 4000);
    close(fd);
    veil_http_server_stop(s);
}

struct get_job {
    char url[128];
    long status;
    bool ok;
};

static void *get_thread(void *arg)
{
    struct get_job *j = arg;
    veil_http_client_response r;
    j->ok = veil_ok(veil_http_get(j->url, NULL, &r));
    j->status = r.status;
    veil_http_client_response_free(&r);
    return NULL;
}

static void *stop_thread(void *arg)
{
    veil_http_server_stop(arg);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    veil_http_server *s = start(NULL, 0, 0, 5000);
    uint16_t port = veil_http_server_port(s);
    struct get_job job;
    pthread_t client, stopper;
    url(job.url, sizeof job.url, s, "/hold");
    assert_int_equal(pthread_create(&client, NULL, get_thread, &job), 0);
    pthread_mutex_lock(&T.mu);
    assert_true(wait_flag(&T.hold_entered, WAIT_MS));
    pthread_mutex_unlock(&T.mu);

    int64_t t0 = now_ms();
    assert_int_equal(pthread_create(&stopper, NULL, stop_thread, s), 0);
    /* Soon no new connection is accepted. */
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/echo", port);
    bool refused = false;
    for (int i = 0; i < 100 && !refused; i++) {
        veil_http_client_response r;
        veil_http_client_opts o = {.timeout_ms = 500};
        refused = !veil_ok(veil_http_get(u, &o, &r));
        veil_http_client_response_free(&r);
        if (!refused)
            sleep_ms(10);
    }
    assert_true(refused);
    /* The in-flight request still completes. */
    pthread_mutex_lock(&T.mu);
    T.hold_release = true;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
    pthread_join(client, NULL);
    pthread_join(stopper, NULL);
    assert_true(job.ok);
    assert_int_equal(job.status, 200);
    assert_true(now_ms() - t0 < 4000);

    /* A request that outlives the grace period: on_abort releases it. */
    s = start(NULL, 0, 0, 200);
    url(job.url, sizeof job.url, s, "/hold");
    assert_int_equal(pthread_create(&client, NULL, get_thread, &job), 0);
    pthread_mutex_lock(&T.mu);
    assert_true(wait_flag(&T.hold_entered, WAIT_MS));
    pthread_mutex_unlock(&T.mu);
    t0 = now_ms();
    veil_http_server_stop(s);
    assert_true(now_ms() - t0 < 2000);
    pthread_join(client, NULL);
}

/* Send raw bytes to the server and read what comes back until it closes. */
static size_t raw(uint16_t port, const char *req, size_t n, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    size_t got = 0;
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (n)
        (void)send(fd, req, n, MSG_NOSIGNAL);
    for (int i = 0; i < 1000 && got + 1 < cap && out; i++) {
        ssize_t k = recv(fd, out + got, cap - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (out)
        out[got] = '\0';
    close(fd);
    return got;
}

/* Requests MHD refuses itself, or that a client abandons half-way, neither
 * leak (LSan) nor hold up a stop. */
static void test_malformed_and_abandoned_requests(void **state)
{
    veil_http_server *s = start(NULL, 0, 2, 5000);
    uint16_t port = veil_http_server_port(s);
    static char resp[8192];
    static char big[80000];

    /* Headers larger than the connection's memory: MHD answers on its own. */
    int k = snprintf(big, sizeof big, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + k, 'a', sizeof big - (size_t)k - 8);
    memcpy(big + sizeof big - 8, "\r\n\r\n", 5);
    raw(port, big, strlen(big), resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 4", 10), 0);
    /* Garbage, then a request cut off in its headers, then one cut off in its body. */
    static const char junk[] = "NOT HTTP AT ALL\r\n\r\n";
    raw(port, junk, sizeof junk - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 400", 12), 0);
    static const char cut1[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le";
    raw(port, cut1, sizeof cut1 - 1, NULL, 0);
    static const char cut2[] = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    raw(port, cut2, sizeof cut2 - 1, NULL, 0);
    static const char cut3[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    raw(port, cut3, sizeof cut3 - 1, NULL, 0);
    /* A kept-alive connection gets two answers. */
    static const char two[] = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw(port, two, sizeof two - 1, resp, sizeof resp);
    assert_non_null(strstr(resp, "HTTP/1.1 200"));
    assert_non_null(strstr(resp, "HTTP/1.1 404"));
    sleep_ms(50);
    int64_t t0 = now_ms();
    veil_http_server_stop(s);
    assert_true(now_ms() - t0 < 1000);
}

/* max_per_client: a second connection from the same address is refused
 * while the first is open, accepted once it closes. */
static void test_per_client_connection_limit(void **state)
{
    veil_http_server_config cfg = {.handler = handler, .max_per_client = 1, .timeout_s = 5};
    veil_http_server *s = NULL;
    veil_http_client_response r;
    char u[128];
    reset_state();
    tu_ok(veil_http_server_start(&cfg, &s));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(veil_http_server_port(s)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    url(u, sizeof u, s, "/echo");
    bool refused = false;
    for (int i = 0; i < 50 && !refused; i++) { /* the server may not have counted fd yet */
        refused = !veil_ok(veil_http_get(u, NULL, &r));
        veil_http_client_response_free(&r);
        if (!refused)
            sleep_ms(20);
    }
    assert_true(refused);
    close(fd);
    bool served = false;
    for (int i = 0; i < 50 && !served; i++) {
        served = veil_ok(veil_http_get(u, NULL, &r)) && r.status == 200;
        veil_http_client_response_free(&r);
        if (!served)
            sleep_ms(20);
    }
    assert_true(served);
    veil_http_server_stop(s);
}

static void test_ipv6_loopback(void **state)
{
    veil_http_server_config cfg = {.address = "::1", .handler = handler};
    veil_http_server *s = NULL;
    reset_state();
    veil_result res = veil_http_server_start(&cfg, &s);
    if (!veil_ok(res)) {
        print_message("IPv6 loopback unavailable (%s): skipped\n", res.msg);
        skip();
    }
    char u[128];
    veil_http_client_response r;
    snprintf(u, sizeof u, "http://[::1]:%u/echo", veil_http_server_port(s));
    tu_ok(veil_http_get(u, NULL, &r));
    assert_int_equal(r.status, 200);
    json_t *doc = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "client")), "::1");
    json_decref(doc);
    veil_http_client_response_free(&r);
    veil_http_server_stop(s);
}

static void test_bad_configuration(void **state)
{
    veil_http_server *s = NULL, *s2 = NULL;
    veil_http_server_config cfg = {.address = "localhost", .handler = handler};
    assert_false(veil_ok(veil_http_server_start(&cfg, &s)));
    assert_null(s);
    cfg.address = "127.0.0.1";
    cfg.dual_stack = true;
    assert_false(veil_ok(veil_http_server_start(&cfg, &s)));
    cfg.dual_stack = false;
    cfg.handler = NULL;
    assert_false(veil_ok(veil_http_server_start(&cfg, &s)));
    cfg.handler = handler;
    tu_ok(veil_http_server_start(&cfg, &s));
    cfg.port = veil_http_server_port(s);
    veil_result r = veil_http_server_start(&cfg, &s2);
    assert_false(veil_ok(r));
    assert_string_equal(r.msg, "listen address already in use");
    assert_null(s2);
    veil_http_server_stop(s);
    veil_http_server_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_post_round_trip),
        cmocka_unit_test(test_problem_json),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_streamed_response_arrives_in_pieces),
        cmocka_unit_test(test_streamed_request_body),
        cmocka_unit_test(test_timeouts_and_limits),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_malformed_and_abandoned_requests),
        cmocka_unit_test(test_per_client_connection_limit),
        cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
