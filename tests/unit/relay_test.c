/* The OHTTP relay, in process: a fake gateway (the HTTP module's server,
 * recording everything it receives) behind a relay on port 0, and clients in
 * front (the HTTP module's client, or a raw socket bound to 127.0.0.2 so the
 * client's address is distinguishable from the relay's). Every wait is
 * bounded; every server is stopped by the test that started it. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "relay/relay_internal.h"
#include "testutil.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/relay.h"

#define WAIT_MS 5000
#define N_GW 6
enum { GW_ECHO, GW_CHUNKS, GW_SLOW, GW_BAD_TYPE, GW_PROBLEM, GW_DOWN };

static const char PROBLEM_BODY[] = "{\"detail\":\"decapsulation failed\",\"status\":400,"
                                   "\"title\":\"Bad Request\",\"type\":\"about:blank\"}";

/* ---- the fake gateway ----------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int requests;
    json_t *headers; /* [[name, value], ...] of the last request */
    char path[256], query[256], peer[VEIL_HTTP_ADDR_MAX];
    uint8_t body[4096];
    size_t body_len;
    int chunk_step, client_pieces;
    bool acks_ok;
    bool release;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll (G.mu held) until cond() or ms elapse. */
static bool wait_until(bool (*cond)(void *), void *arg, int ms)
{
    int64_t end = now_ms() + ms;
    bool ok;
    while (!(ok = cond(arg)) && now_ms() < end) {
        pthread_mutex_unlock(&G.mu);
        sleep_ms(2);
        pthread_mutex_lock(&G.mu);
    }
    return ok;
}

static bool released(void *arg) { return G.release; }
static bool client_has(void *arg) { return G.client_pieces >= *(int *)arg; }

static bool record_header(void *ctx, const char *name, const char *value)
{
    json_array_append_new(ctx, json_pack("[s,s]", name, value));
    return true;
}

static void record(veil_http_request *req)
{
    size_t n;
    const uint8_t *body = veil_http_req_body(req, &n);
    json_t *h = json_array();
    veil_http_req_headers(req, record_header, h);
    pthread_mutex_lock(&G.mu);
    G.requests++;
    json_decref(G.headers);
    G.headers = h;
    snprintf(G.path, sizeof G.path, "%s", veil_http_req_path(req));
    snprintf(G.query, sizeof G.query, "%s", veil_http_req_query(req));
    snprintf(G.peer, sizeof G.peer, "%s", veil_http_req_client_addr(req));
    G.body_len = n < sizeof G.body ? n : sizeof G.body;
    if (G.body_len)
        memcpy(G.body, body, G.body_len);
    pthread_mutex_unlock(&G.mu);
}

static ssize_t chunk_reader(void *ctx, uint8_t *buf, size_t cap)
{
    static const char *const pieces[] = {"chunk-one;", "chunk-two;", "chunk-three"};
    ssize_t n = 0;
    pthread_mutex_lock(&G.mu);
    if (G.chunk_step > 0 && G.chunk_step < 3) { /* piece k+1 once the client has piece k */
        int want = G.chunk_step;
        if (!wait_until(client_has, &want, WAIT_MS))
            G.acks_ok = false;
    }
    if (G.chunk_step < 3) {
        const char *p = pieces[G.chunk_step++];
        n = (ssize_t)strlen(p);
        memcpy(buf, p, (size_t)n < cap ? (size_t)n : cap);
    }
    pthread_mutex_unlock(&G.mu);
    return n;
}

static void gateway(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    record(req);
    if (!strcmp(path, "/echo")) {
        size_t n;
        const uint8_t *b = veil_http_req_body(req, &n);
        veil_http_resp_set(resp, 200, VEIL_OHTTP_MT_RESPONSE, b, n);
        veil_http_resp_header(resp, "X-Gateway-Secret", "s3cret");
        veil_http_resp_header(resp, "Set-Cookie", "session=1");
    } else if (!strcmp(path, "/chunks")) {
        veil_http_resp_stream(resp, 200, VEIL_OHTTP_MT_CHUNKED_RESPONSE, chunk_reader, NULL);
    } else if (!strcmp(path, "/slow")) {
        pthread_mutex_lock(&G.mu);
        wait_until(released, NULL, WAIT_MS);
        pthread_mutex_unlock(&G.mu);
        veil_http_resp_set(resp, 200, VEIL_OHTTP_MT_RESPONSE, "late", 4);
    } else if (!strcmp(path, "/bad-type")) {
        veil_http_resp_set(resp, 200, "text/html", "<html>", 6);
    } else {
        veil_http_resp_set(resp, 400, VEIL_HTTP_MT_PROBLEM, PROBLEM_BODY, sizeof PROBLEM_BODY - 1);
    }
}

static void reset_gateway_state(void)
{
    pthread_mutex_lock(&G.mu);
    G.requests = G.chunk_step = G.client_pieces = 0;
    json_decref(G.headers);
    G.headers = NULL;
    G.body_len = 0;
    G.acks_ok = true;
    G.release = false;
    pthread_mutex_unlock(&G.mu);
}

static void release_gateway(void)
{
    pthread_mutex_lock(&G.mu);
    G.release = true;
    pthread_mutex_unlock(&G.mu);
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

/* A fake gateway and a relay in front of it. */
typedef struct fixture {
    veil_http_server *gw;
    veil_relay *relay;
    char urls[N_GW][128];
    char base[128]; /* http://127.0.0.1:RELAYPORT */
} fixture;

static void fixture_start(fixture *f, unsigned timeout_ms, unsigned rate, size_t max_body,
                          unsigned grace_ms)
{
    static const char *const paths[N_GW] = {"/echo",     "/chunks",  "/slow",
                                            "/bad-type", "/problem", "/down"};
    veil_http_server_config gc = {.handler = gateway, .max_body = (size_t)4 << 20};
    const char *gws[N_GW];
    memset(f, 0, sizeof *f);
    reset_gateway_state();
    tu_ok(veil_http_server_start(&gc, &f->gw));
    uint16_t down = closed_port();
    for (size_t i = 0; i < N_GW; i++) {
        snprintf(f->urls[i], sizeof f->urls[i], "http://127.0.0.1:%u%s",
                 i == GW_DOWN ? down : veil_http_server_port(f->gw), paths[i]);
        gws[i] = f->urls[i];
    }
    veil_relay_config rc = {.gateways = gws,
                            .n_gateways = N_GW,
                            .timeout_ms = timeout_ms,
                            .rate = rate,
                            .max_body = max_body,
                            .stop_grace_ms = grace_ms};
    tu_ok(veil_relay_start(&rc, &f->relay));
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", veil_relay_port(f->relay));
}

static void fixture_stop(fixture *f)
{
    release_gateway();
    veil_relay_stop(f->relay);
    veil_http_server_stop(f->gw);
    pthread_mutex_lock(&G.mu);
    json_decref(G.headers);
    G.headers = NULL;
    pthread_mutex_unlock(&G.mu);
}

static void relay_url(char *out, size_t n, const fixture *f, const char *path)
{
    snprintf(out, n, "%s%s", f->base, path);
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Assert a problem+json response with this status and problem type slug. */
static void assert_problem(const veil_http_client_response *r, long status, const char *slug)
{
    char type[128];
    assert_int_equal(r->status, status);
    assert_string_equal(r->content_type, VEIL_HTTP_MT_PROBLEM);
    json_t *doc = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    assert_non_null(doc);
    snprintf(type, sizeof type, "%s%s", VEIL_HTTP_PROBLEM_BASE, slug);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), type);
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), status);
    assert_non_null(json_string_value(json_object_get(doc, "title")));
    json_decref(doc);
}

/* ---- raw client: exact bytes out, the whole response back ------------------------ */

/* Send `req` from 127.0.0.2 to 127.0.0.1:port; read until the server closes.
 * Returns the response length (NUL-terminated in out). */
static size_t raw_exchange(uint16_t port, const char *req, size_t req_len, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {5, 0};
    size_t got = 0;
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
    assert_int_equal(send(fd, req, req_len, MSG_NOSIGNAL), (ssize_t)req_len);
    for (int i = 0; i < 10000 && got + 1 < cap; i++) {
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

/* Value of a response header in a raw response head, or NULL. */
static const char *raw_header(const char *resp, const char *name, char *val, size_t cap)
{
    const char *end = strstr(resp, "\r\n\r\n");
    size_t nlen = strlen(name);
    for (const char *l = strstr(resp, "\r\n"); l && end && l < end; l = strstr(l + 2, "\r\n")) {
        const char *p = l + 2;
        if (!strncasecmp(p, name, nlen) && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, "\r");
            n = n < cap - 1 ? n : cap - 1;
            memcpy(val, p, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_siphash_and_buckets(void **state)
{
    /* SipHash-2-4 reference: key 00..0f, message 00..0e (the paper's Appendix A). */
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(veil_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
    assert_true(veil_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);

    veil_ratelimit rl;
    unsigned retry;
    tu_ok(veil_rl_init(&rl, 2, 3, 1));
    for (int i = 0; i < 3; i++)
        assert_true(veil_rl_take(&rl, "10.0.0.1", 1000, &retry));
    assert_false(veil_rl_take(&rl, "10.0.0.1", 1000, &retry));
    assert_int_equal(retry, 1);
    assert_true(veil_rl_take(&rl, "10.0.0.2", 1000, &retry)); /* its own bucket */
    assert_false(veil_rl_take(&rl, "10.0.0.1", 1100, &retry));
    assert_true(veil_rl_take(&rl, "10.0.0.1", 1500, &retry)); /* 2/s refills one in 500 ms */
    /* One set of 8 ways: nine clients evict the stalest, memory stays fixed. */
    char a[32];
    for (int i = 0; i < 20; i++) {
        snprintf(a, sizeof a, "10.1.0.%d", i);
        assert_true(veil_rl_take(&rl, a, 2000 + i, &retry));
    }
    /* IPv6: one bucket per /64. */
    veil_rl_free(&rl);
    tu_ok(veil_rl_init(&rl, 1, 1, 16));
    assert_true(veil_rl_take(&rl, "2001:db8:1:2::1", 5000, &retry));
    assert_false(veil_rl_take(&rl, "2001:db8:1:2:ffff::9", 5000, &retry));
    assert_true(veil_rl_take(&rl, "2001:db8:1:3::1", 5000, &retry));
    veil_rl_free(&rl);
    tu_ok(veil_rl_init(&rl, 0, 0, 4)); /* rate 0: unlimited */
    for (int i = 0; i < 100; i++)
        assert_true(veil_rl_take(&rl, "10.0.0.1", 0, &retry));
    veil_rl_free(&rl);
}

struct src {
    const uint8_t *p;
    size_t n, off;
};

static ssize_t read_src(void *ctx, uint8_t *buf, size_t cap)
{
    struct src *s = ctx;
    size_t k = s->n - s->off < cap ? s->n - s->off : cap;
    if (k > 7000)
        k = 7000;
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

static bool contains(const uint8_t *h, size_t hn, const char *needle)
{
    size_t nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(h + i, needle, nn))
            return true;
    return false;
}

static void test_forwards_bodies_byte_identical(void **state)
{
    fixture f;
    char u[160];
    veil_http_client_response r;
    size_t n = 200000; /* several times the relay's 64 KiB rings */
    uint8_t *body = veil_calloc(1, n);
    fixture_start(&f, 5000, 0, 0, 0);
    fill_random(body, n, 7);

    const char *const paths[] = {"/", "/relay/0"};
    for (size_t i = 0; i < 2; i++) {
        relay_url(u, sizeof u, &f, paths[i]);
        tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, body, n, NULL, &r));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.content_type, VEIL_OHTTP_MT_RESPONSE);
        tu_assert_bytes(r.body.data, r.body.len, body, n);
        veil_http_client_response_free(&r);
    }
    /* A chunked upload is forwarded chunked, and echoed back identically. */
    struct src src = {body, n, 0};
    veil_http_client_request req = {.url = u,
                                    .content_type = VEIL_OHTTP_MT_CHUNKED_REQUEST,
                                    .read_body = read_src,
                                    .read_ctx = &src};
    tu_ok(veil_http_fetch(&req, NULL, &r));
    assert_int_equal(r.status, 200);
    tu_assert_bytes(r.body.data, r.body.len, body, n);
    veil_http_client_response_free(&r);

    veil_relay_counters c;
    veil_relay_counters_get(f.relay, &c);
    assert_int_equal(c.forwarded, 3);
    assert_int_equal(c.relayed, 3);
    assert_true(c.bytes_up == 3 * n);
    assert_true(c.bytes_down == 3 * n);
    veil_free(body);
    fixture_stop(&f);
}

static bool header_allowed(const char *name, bool chunked)
{
    static const char *const ok[] = {"Host", "Content-Type", "Content-Length"};
    for (size_t i = 0; i < 3; i++)
        if (!strcasecmp(name, ok[i]))
            return true;
    return chunked && (!strcasecmp(name, "Incremental") || !strcasecmp(name, "Transfer-Encoding"));
}

static void check_gateway_saw_nothing_of_the_client(const char *want_type, bool chunked)
{
    pthread_mutex_lock(&G.mu);
    assert_non_null(G.headers);
    size_t i;
    json_t *h;
    json_array_foreach (G.headers, i, h) {
        const char *name = json_string_value(json_array_get(h, 0));
        const char *value = json_string_value(json_array_get(h, 1));
        if (!header_allowed(name, chunked))
            fail_msg("gateway received header %s", name);
        assert_null(strstr(value, "127.0.0.2"));
        if (!strcasecmp(name, "Content-Type"))
            assert_string_equal(value, want_type);
        if (!strcasecmp(name, "Incremental"))
            assert_string_equal(value, "?1");
    }
    assert_string_equal(G.path, "/echo");
    assert_string_equal(G.query, "");
    assert_string_equal(G.peer, "127.0.0.1"); /* the relay, not 127.0.0.2 */
    assert_false(contains(G.body, G.body_len, "127.0.0.2"));
    pthread_mutex_unlock(&G.mu);
}

static void test_strips_headers(void **state)
{
    fixture f;
    static char resp[16384];
    char v[256];
    fixture_start(&f, 5000, 0, 0, 0);
    uint16_t port = veil_relay_port(f.relay);

    static const char req1[] = "POST /relay/0?who=me HTTP/1.1\r\n"
                               "Host: relay.example\r\n"
                               "Content-Type: Message/OHTTP-Req\r\n"
                               "Content-Length: 11\r\n"
                               "X-Forwarded-For: 127.0.0.2, 10.9.8.7\r\n"
                               "Forwarded: for=127.0.0.2\r\n"
                               "X-Real-IP: 127.0.0.2\r\n"
                               "Via: 1.1 client-proxy\r\n"
                               "User-Agent: curious/1.0\r\n"
                               "Cookie: id=42\r\n"
                               "Authorization: Bearer secret\r\n"
                               "Accept: */*\r\n"
                               "Incremental: ?1\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "opaque-blob";
    raw_exchange(port, req1, sizeof req1 - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 200", 12), 0);
    assert_string_equal(raw_header(resp, "Content-Type", v, sizeof v), VEIL_OHTTP_MT_RESPONSE);
    /* No gateway header beyond the type reaches the client. */
    assert_null(raw_header(resp, "X-Gateway-Secret", v, sizeof v));
    assert_null(raw_header(resp, "Set-Cookie", v, sizeof v));
    assert_non_null(strstr(resp, "opaque-blob"));
    /* Incremental is forwarded only for chunked OHTTP. */
    check_gateway_saw_nothing_of_the_client(VEIL_OHTTP_MT_REQUEST, false);

    static const char req2[] = "POST / HTTP/1.1\r\n"
                               "Host: relay.example\r\n"
                               "Content-Type: message/ohttp-chunked-req\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Incremental: ?1\r\n"
                               "X-Forwarded-For: 127.0.0.2\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "5\r\nhello\r\n6\r\n-world\r\n0\r\n\r\n";
    raw_exchange(port, req2, sizeof req2 - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 200", 12), 0);
    check_gateway_saw_nothing_of_the_client(VEIL_OHTTP_MT_CHUNKED_REQUEST, true);
    pthread_mutex_lock(&G.mu);
    tu_assert_bytes(G.body, G.body_len, (const uint8_t *)"hello-world", 11);
    bool saw_incremental = false;
    size_t i;
    json_t *h;
    json_array_foreach (G.headers, i, h)
        saw_incremental |= !strcasecmp(json_string_value(json_array_get(h, 0)), "Incremental");
    assert_true(saw_incremental);
    pthread_mutex_unlock(&G.mu);

    /* Both framings at once (a smuggling attempt): refused, or forwarded
     * chunked with the real body; never the client's Content-Length. */
    static const char req3[] = "POST / HTTP/1.1\r\n"
                               "Host: relay.example\r\n"
                               "Content-Type: message/ohttp-req\r\n"
                               "Content-Length: 3\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "5\r\nhello\r\n0\r\n\r\n";
    pthread_mutex_lock(&G.mu);
    int before = G.requests;
    pthread_mutex_unlock(&G.mu);
    raw_exchange(port, req3, sizeof req3 - 1, resp, sizeof resp);
    pthread_mutex_lock(&G.mu);
    if (!strncmp(resp, "HTTP/1.1 200", 12)) {
        assert_int_equal(G.requests, before + 1);
        tu_assert_bytes(G.body, G.body_len, (const uint8_t *)"hello", 5);
        json_array_foreach (G.headers, i, h)
            assert_true(strcasecmp(json_string_value(json_array_get(h, 0)), "Content-Length") != 0);
    } else {
        assert_int_equal(strncmp(resp, "HTTP/1.1 400", 12), 0);
        assert_int_equal(G.requests, before);
    }
    pthread_mutex_unlock(&G.mu);
    fixture_stop(&f);
}

static void test_rejections(void **state)
{
    fixture f;
    char u[160];
    static char resp[16384];
    char v[64];
    veil_http_client_response r;
    uint8_t body[8192] = {0};
    fixture_start(&f, 5000, 0, 4096, 0);

    /* 405, with Allow. */
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_exchange(veil_relay_port(f.relay), get, sizeof get - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 405", 12), 0);
    assert_string_equal(raw_header(resp, "Allow", v, sizeof v), "POST");
    relay_url(u, sizeof u, &f, "/");
    tu_ok(veil_http_get(u, NULL, &r));
    assert_problem(&r, 405, "method-not-allowed");
    veil_http_client_response_free(&r);
    veil_http_client_request put = {.method = "PUT",
                                    .url = u,
                                    .content_type = VEIL_OHTTP_MT_REQUEST,
                                    .body = body,
                                    .body_len = 10};
    tu_ok(veil_http_fetch(&put, NULL, &r));
    assert_problem(&r, 405, "method-not-allowed");
    veil_http_client_response_free(&r);

    /* 415: wrong or missing media type. */
    const char *const types[] = {"text/plain", "message/ohttp-res", "application/ohttp-keys", NULL};
    for (size_t i = 0; i < 4; i++) {
        tu_ok(veil_http_post(u, types[i], body, 10, NULL, &r));
        assert_problem(&r, 415, "unsupported-media-type");
        veil_http_client_response_free(&r);
    }
    /* 404: no such gateway. */
    const char *const bad[] = {"/relay/6", "/relay/01", "/relay/", "/x", "/relay/0/x"};
    for (size_t i = 0; i < 5; i++) {
        relay_url(u, sizeof u, &f, bad[i]);
        tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, body, 10, NULL, &r));
        assert_problem(&r, 404, "not-found");
        veil_http_client_response_free(&r);
    }
    /* 413: over --max-body (4096), declared or chunked. */
    relay_url(u, sizeof u, &f, "/");
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, body, sizeof body, NULL, &r));
    assert_problem(&r, 413, "body-too-large");
    veil_http_client_response_free(&r);
    pthread_mutex_lock(&G.mu);
    assert_int_equal(G.requests, 0); /* none of these reached the gateway */
    pthread_mutex_unlock(&G.mu);
    veil_relay_counters c;
    veil_relay_counters_get(f.relay, &c);
    assert_int_equal(c.bad_method, 3);
    assert_int_equal(c.bad_media_type, 4);
    assert_int_equal(c.not_found, 5);
    assert_int_equal(c.forwarded, 0);
    fixture_stop(&f);

    /* 429 past the bucket (rate 1/s, burst 1), with Retry-After. */
    fixture_start(&f, 5000, 1, 0, 0);
    relay_url(u, sizeof u, &f, "/");
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, body, 10, NULL, &r));
    assert_int_equal(r.status, 200);
    veil_http_client_response_free(&r);
    static const char post[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: message/ohttp-req\r\n"
                               "Content-Length: 1\r\nConnection: close\r\n\r\nx";
    raw_exchange(veil_relay_port(f.relay), post, sizeof post - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 200", 12), 0); /* 127.0.0.2: its own bucket */
    raw_exchange(veil_relay_port(f.relay), post, sizeof post - 1, resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 429", 12), 0);
    assert_string_equal(raw_header(resp, "Retry-After", v, sizeof v), "1");
    assert_string_equal(raw_header(resp, "Content-Type", v, sizeof v), VEIL_HTTP_MT_PROBLEM);
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, body, 10, NULL, &r));
    assert_problem(&r, 429, "rate-limited");
    veil_http_client_response_free(&r);
    veil_relay_counters_get(f.relay, &c);
    assert_int_equal(c.rate_limited, 2);
    fixture_stop(&f);
}

static void test_gateway_failures(void **state)
{
    fixture f;
    char u[160];
    veil_http_client_response r;
    fixture_start(&f, 400, 0, 0, 0);

    /* Down: 502. */
    snprintf(u, sizeof u, "%s/relay/%d", f.base, GW_DOWN);
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, "x", 1, NULL, &r));
    assert_problem(&r, 502, "bad-gateway");
    veil_http_client_response_free(&r);
    /* A response type the relay will not pass: 502. */
    snprintf(u, sizeof u, "%s/relay/%d", f.base, GW_BAD_TYPE);
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, "x", 1, NULL, &r));
    assert_problem(&r, 502, "bad-gateway");
    veil_http_client_response_free(&r);
    /* The gateway's own problem passes through unchanged. */
    snprintf(u, sizeof u, "%s/relay/%d", f.base, GW_PROBLEM);
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, "x", 1, NULL, &r));
    assert_int_equal(r.status, 400);
    assert_string_equal(r.content_type, VEIL_HTTP_MT_PROBLEM);
    tu_assert_bytes(r.body.data, r.body.len, (const uint8_t *)PROBLEM_BODY,
                    sizeof PROBLEM_BODY - 1);
    veil_http_client_response_free(&r);
    /* Slow (holds until released; relay timeout 400 ms): 504, promptly. */
    snprintf(u, sizeof u, "%s/relay/%d", f.base, GW_SLOW);
    int64_t t0 = now_ms();
    tu_ok(veil_http_post(u, VEIL_OHTTP_MT_REQUEST, "x", 1, NULL, &r));
    assert_problem(&r, 504, "gateway-timeout");
    assert_true(now_ms() - t0 < 2000);
    veil_http_client_response_free(&r);

    veil_relay_counters c;
    veil_relay_counters_get(f.relay, &c);
    assert_int_equal(c.bad_gateway, 2);
    assert_int_equal(c.gateway_timeout, 1);
    assert_int_equal(c.relayed, 1);
    fixture_stop(&f);
}

static int chunk_head(void *ctx, long status, const char *ct)
{
    return status == 200 && !strcmp(ct, VEIL_OHTTP_MT_CHUNKED_RESPONSE) ? 0 : 1;
}

static int chunk_body(void *ctx, const uint8_t *p, size_t n)
{
    if (!veil_ok(veil_buf_append(ctx, p, n)))
        return 1;
    pthread_mutex_lock(&G.mu);
    G.client_pieces++;
    pthread_mutex_unlock(&G.mu);
    return 0;
}

static void test_streams_chunks_through(void **state)
{
    fixture f;
    char u[160];
    veil_http_client_response r;
    veil_buf got;
    fixture_start(&f, 5000, 0, 0, 0);
    veil_buf_init(&got, 4096);
    snprintf(u, sizeof u, "%s/relay/%d", f.base, GW_CHUNKS);
    veil_http_header inc[] = {{"Incremental", "?1"}};
    veil_http_client_request req = {.url = u,
                                    .content_type = VEIL_OHTTP_MT_CHUNKED_REQUEST,
                                    .headers = inc,
                                    .n_headers = 1,
                                    .body = "chunked-request",
                                    .body_len = 15};
    veil_http_client_sink sink = {.on_head = chunk_head, .on_body = chunk_body, .ctx = &got};
    tu_ok(veil_http_fetch_stream(&req, NULL, &sink, &r));
    assert_int_equal(r.status, 200);
    tu_assert_bytes(got.data, got.len, (const uint8_t *)"chunk-one;chunk-two;chunk-three", 31);
    pthread_mutex_lock(&G.mu);
    assert_true(G.acks_ok); /* the client had piece k before the gateway sent piece k+1 */
    assert_int_equal(G.chunk_step, 3);
    assert_true(G.client_pieces >= 3);
    pthread_mutex_unlock(&G.mu);
    veil_buf_free(&got);
    veil_http_client_response_free(&r);
    fixture_stop(&f);
}

#define LOAD_THREADS 16
#define LOAD_PER_THREAD 150
#define LOAD_DEADLINE_MS 120000

struct load_job {
    const char *url;
    int64_t deadline;
    int done, failed;
    uint32_t seed;
};

static void *load_thread(void *arg)
{
    struct load_job *j = arg;
    uint8_t body[1024];
    for (int i = 0; i < LOAD_PER_THREAD && now_ms() < j->deadline; i++) {
        veil_http_client_response r;
        size_t n = 64 + (j->seed + (uint32_t)i * 37u) % (sizeof body - 64);
        fill_random(body, n, j->seed + (uint32_t)i);
        veil_result res = veil_http_post(j->url, VEIL_OHTTP_MT_REQUEST, body, n, NULL, &r);
        if (!veil_ok(res) || r.status != 200 || r.body.len != n ||
            !veil_public_equal(r.body.data, r.body.len, body, n))
            j->failed++;
        j->done++;
        veil_http_client_response_free(&r);
    }
    return NULL;
}

static void test_load_sixteen_connections(void **state)
{
    fixture f;
    char u[160];
    pthread_t th[LOAD_THREADS];
    struct load_job jobs[LOAD_THREADS];
    fixture_start(&f, 10000, 0, 0, 0);
    relay_url(u, sizeof u, &f, "/");
    int64_t t0 = now_ms();
    for (int i = 0; i < LOAD_THREADS; i++) {
        jobs[i] = (struct load_job){.url = u, .deadline = t0 + LOAD_DEADLINE_MS, .seed = 100u * i};
        assert_int_equal(pthread_create(&th[i], NULL, load_thread, &jobs[i]), 0);
    }
    int done = 0, failed = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(th[i], NULL);
        done += jobs[i].done;
        failed += jobs[i].failed;
    }
    print_message("relay load: %d requests, %d failed, %lld ms\n", done, failed,
                  (long long)(now_ms() - t0));
    assert_int_equal(failed, 0);
    assert_int_equal(done, LOAD_THREADS * LOAD_PER_THREAD);
    veil_relay_counters c;
    veil_relay_counters_get(f.relay, &c);
    assert_int_equal(c.relayed, LOAD_THREADS * LOAD_PER_THREAD);
    fixture_stop(&f);
}

struct post_job {
    char url[160];
    long status;
};

static void *post_thread(void *arg)
{
    struct post_job *j = arg;
    veil_http_client_response r;
    veil_result res = veil_http_post(j->url, VEIL_OHTTP_MT_REQUEST, "x", 1, NULL, &r);
    j->status = veil_ok(res) ? r.status : 0;
    veil_http_client_response_free(&r);
    return NULL;
}

static bool gateway_has_one(void *arg) { return G.requests >= 1; }

static void test_stop_is_bounded(void **state)
{
    fixture f;
    struct post_job job;
    pthread_t th;
    fixture_start(&f, 20000, 0, 0, 200);
    snprintf(job.url, sizeof job.url, "%s/relay/%d", f.base, GW_SLOW);
    assert_int_equal(pthread_create(&th, NULL, post_thread, &job), 0);
    pthread_mutex_lock(&G.mu);
    assert_true(wait_until(gateway_has_one, NULL, WAIT_MS));
    pthread_mutex_unlock(&G.mu);
    int64_t t0 = now_ms();
    veil_relay_stop(f.relay); /* grace 200 ms, then the exchange is cut */
    f.relay = NULL;
    assert_true(now_ms() - t0 < 2000);
    pthread_join(th, NULL);
    assert_true(job.status != 200);
    fixture_stop(&f);
}

static void test_bad_configuration(void **state)
{
    veil_relay *r = NULL;
    const char *bad[] = {"ftp://gw.example/"};
    veil_relay_config c = {.gateways = bad, .n_gateways = 1};
    assert_false(veil_ok(veil_relay_start(&c, &r)));
    c.n_gateways = 0;
    assert_false(veil_ok(veil_relay_start(&c, &r)));
    const char *good[] = {"http://127.0.0.1:1/"};
    c = (veil_relay_config){.gateways = good, .n_gateways = 1, .address = "not-an-ip"};
    assert_false(veil_ok(veil_relay_start(&c, &r)));
    assert_null(r);
    veil_relay_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_and_buckets),
        cmocka_unit_test(test_forwards_bodies_byte_identical),
        cmocka_unit_test(test_strips_headers),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_gateway_failures),
        cmocka_unit_test(test_streams_chunks_through),
        cmocka_unit_test(test_load_sixteen_connections),
        cmocka_unit_test(test_stop_is_bounded),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
