/* The confidential gateway and the verifying client, in process, over
 * loopback: a simulated secure processor (served on a thread of this
 * process, which is its guest), gateways on port 0, the real relay in front,
 * and a recording "tap" HTTP server where a test needs to watch or tamper
 * with the traffic. Every server binds 127.0.0.1 and is stopped by the test
 * that started it; every wait is bounded. */
#define _GNU_SOURCE /* memmem, mkdtemp */
#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "testutil.h"
#include "veil/app.h"
#include "veil/attester.h"
#include "veil/client.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/relay.h"

#define LIBRIVOX_WAV                                                                               \
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"

/* ---- the simulated secure processor, two guests ------------------------------------- */

struct simguest {
    veil_sim_guest g;
    char sock[512];
    veil_sim_server *srv;
    pthread_t th;
    atomic_bool stop;
    veil_attester *att;
    char hex[97];
};

static struct {
    char dir[64];
    veil_sim_state st;
    char ark[65];
    struct simguest a, b; /* b: the same "binary" with one byte changed */
    char policy_a[512], policy_other[512], policy_no_root[512];
    veil_app *app; /* the real application, when pocketsphinx is installed */
} S;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char GATEWAY_IMAGE[] = "veil gateway binary, version under test";

static void *sim_thread(void *arg)
{
    struct simguest *sg = arg;
    for (int i = 0; i < 600000 && !atomic_load(&sg->stop); i++) /* bounded: ~hours at most */
        if (!veil_ok(veil_sim_server_poll(sg->srv, 20)))
            sleep_ms(20);
    return NULL;
}

static int guest_start(struct simguest *sg, const char *image, size_t len, const char *name)
{
    veil_sim_image img = {"veil", (const uint8_t *)image, len};
    if (!veil_ok(veil_sim_guest_init(&sg->g)) ||
        !veil_ok(veil_sim_measure(&img, 1, sg->g.measurement)))
        return -1;
    veil_hex_encode(sg->g.measurement, 48, sg->hex);
    snprintf(sg->sock, sizeof sg->sock, "%s/%s.sock", S.dir, name);
    if (!veil_ok(veil_sim_server_open(&S.st, &sg->g, sg->sock, &sg->srv)))
        return -1;
    veil_sim_server_set_guest(sg->srv, getpid()); /* this process is the guest */
    atomic_init(&sg->stop, false);
    if (pthread_create(&sg->th, NULL, sim_thread, sg) != 0)
        return -1;
    return veil_ok(veil_attester_open("sim", sg->sock, &sg->att)) ? 0 : -1;
}

static void guest_stop(struct simguest *sg)
{
    if (!sg->srv)
        return;
    atomic_store(&sg->stop, true);
    pthread_join(sg->th, NULL);
    veil_attester_free(sg->att);
    veil_sim_server_free(sg->srv);
}

static veil_result app_handler(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    return veil_app_handle(ctx, req, w);
}

static int setup(void **state)
{
    (void)state;
    bool created = false;
    snprintf(S.dir, sizeof S.dir, "/tmp/veil-gw-test-XXXXXX");
    if (!mkdtemp(S.dir))
        return -1;
    veil_sim_state_init(&S.st);
    char stdir[128];
    snprintf(stdir, sizeof stdir, "%s/sim", S.dir);
    if (!veil_ok(veil_sim_state_create(stdir, &created, &S.st)))
        return -1;
    veil_hex_encode(S.st.ark_sha256, 32, S.ark);
    char other[sizeof GATEWAY_IMAGE];
    memcpy(other, GATEWAY_IMAGE, sizeof other);
    other[7] ^= 1; /* one byte */
    if (guest_start(&S.a, GATEWAY_IMAGE, sizeof GATEWAY_IMAGE, "a") ||
        guest_start(&S.b, other, sizeof other, "b"))
        return -1;
    snprintf(S.policy_a, sizeof S.policy_a,
             "{\"trusted_simulated_roots\":[\"%s\"],\"measurements\":[\"%s\"]}", S.ark, S.a.hex);
    snprintf(S.policy_other, sizeof S.policy_other,
             "{\"trusted_simulated_roots\":[\"%s\"],\"measurements\":[\"%096d\"]}", S.ark, 7);
    snprintf(S.policy_no_root, sizeof S.policy_no_root, "{\"measurements\":[\"%s\"]}", S.a.hex);
    if (access(VEIL_APP_PS_LM, R_OK) == 0 && access(LIBRIVOX_WAV, R_OK) == 0) {
        veil_app_config cfg = {.max_audio_seconds = 60};
        if (!veil_ok(veil_app_new(&cfg, &S.app)))
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    guest_stop(&S.a);
    guest_stop(&S.b);
    veil_app_free(S.app);
    veil_sim_state_free(&S.st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", S.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a fake inner application ------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    bool release;
    int slow_waiting;
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static veil_result fake_app(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    (void)ctx;
    static const veil_app_header text = {"content-type", "text/plain"};
    static const veil_app_header sse = {"content-type", "text/event-stream"};
    static const veil_app_header json = {"content-type", "application/json"};
    const char *path = veil_bhttp_path(req);
    size_t n = 0;
    const uint8_t *body = veil_bhttp_content(req, &n);
    if (!strcmp(path, "/echo")) {
        VEIL_GUARD(w->head(w->arg, 200, &text, 1));
        VEIL_GUARD(w->body(w->arg, body, n));
        return w->end(w->arg);
    }
    if (!strcmp(path, "/stream") || !strcmp(path, "/break")) {
        VEIL_GUARD(w->head(w->arg, 200, &sse, 1));
        for (int i = 1; i <= 3; i++) {
            char ev[32];
            int k = snprintf(ev, sizeof ev, "data: %d\n\n", i);
            VEIL_GUARD(w->body(w->arg, (const uint8_t *)ev, (size_t)k));
            sleep_ms(20);
        }
        if (!strcmp(path, "/break"))
            return VEIL_ERR(VEIL_E_PROTOCOL, "upstream broke");
        return w->end(w->arg);
    }
    if (!strcmp(path, "/slow")) {
        pthread_mutex_lock(&F.mu);
        F.slow_waiting++;
        for (int i = 0; i < 500 && !F.release; i++) {
            pthread_mutex_unlock(&F.mu);
            sleep_ms(10);
            pthread_mutex_lock(&F.mu);
        }
        F.slow_waiting--;
        pthread_mutex_unlock(&F.mu);
        VEIL_GUARD(w->head(w->arg, 200, &text, 1));
        return w->end(w->arg);
    }
    if (!strcmp(path, "/v1/audio/transcriptions")) {
        static const char t[] = "{\"text\":\"marmalade quantum giraffe\"}";
        VEIL_GUARD(w->head(w->arg, 200, &json, 1));
        VEIL_GUARD(w->body(w->arg, (const uint8_t *)t, sizeof t - 1));
        return w->end(w->arg);
    }
    static const char nf[] = "{\"error\":{\"message\":\"no such route\"}}";
    VEIL_GUARD(w->head(w->arg, 404, &json, 1));
    VEIL_GUARD(w->body(w->arg, (const uint8_t *)nf, sizeof nf - 1));
    return w->end(w->arg);
}

/* ---- a tap: forwards to a target, recording, optionally tampering -------------------- */

enum { TAP_PASS, TAP_REWRITE_NONCE, TAP_SWAP_KEYS };

static struct {
    pthread_mutex_t mu;
    char target[128];      /* base URL of the gateway behind the tap */
    char keys_target[128]; /* TAP_SWAP_KEYS: where /ohttp-keys comes from */
    int mode;
    veil_buf seen; /* every body byte, both directions */
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void tap_record(const void *p, size_t n)
{
    pthread_mutex_lock(&T.mu);
    if (n)
        assert_true(veil_ok(veil_buf_append(&T.seen, p, n)));
    pthread_mutex_unlock(&T.mu);
}

static void tap_handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    (void)ctx;
    char url[512];
    const char *path = veil_http_req_path(req), *query = veil_http_req_query(req);
    const char *base =
        T.mode == TAP_SWAP_KEYS && !strcmp(path, "/ohttp-keys") ? T.keys_target : T.target;
    if (T.mode == TAP_REWRITE_NONCE && !strcmp(path, "/v1/attestation"))
        query = "nonce=0000000000000000000000000000000000000000000000000000000000000000";
    snprintf(url, sizeof url, "%s%s%s%s", base, path, *query ? "?" : "", query);
    size_t n = 0;
    const uint8_t *body = veil_http_req_body(req, &n);
    tap_record(body, n);
    veil_http_client_request cr = {.method = veil_http_req_method(req),
                                   .url = url,
                                   .content_type = veil_http_req_header(req, "Content-Type"),
                                   .body = body,
                                   .body_len = n};
    veil_http_client_response out;
    memset(&out, 0, sizeof out);
    if (!veil_ok(veil_http_fetch(&cr, NULL, &out))) {
        veil_http_problem(resp, 502, NULL, NULL, NULL);
    } else {
        tap_record(out.body.data, out.body.len);
        veil_http_resp_set(resp, (unsigned)out.status, out.content_type, out.body.data,
                           out.body.len);
    }
    veil_http_client_response_free(&out);
}

static veil_http_server *tap_start(const char *target, int mode, char *url, size_t cap)
{
    veil_http_server *s = NULL;
    veil_http_server_config c = {.address = "127.0.0.1",
                                 .handler = tap_handler,
                                 .max_body = 32u << 20,
                                 .stop_grace_ms = 2000};
    snprintf(T.target, sizeof T.target, "%s", target);
    T.mode = mode;
    veil_buf_free(&T.seen);
    veil_buf_init(&T.seen, 0);
    tu_ok(veil_http_server_start(&c, &s));
    snprintf(url, cap, "http://127.0.0.1:%u", veil_http_server_port(s));
    return s;
}

/* ---- a stack: gateway (+ relay) --------------------------------------------------------- */

struct stack {
    veil_gateway *gw;
    veil_relay *relay;
    char gw_url[128], relay_url[128];
};

static void stack_start(struct stack *st, veil_attester *att, veil_gateway_handler_fn h, void *hctx,
                        unsigned max_concurrent, const char *relay_target)
{
    veil_ohttp_gateway *keys = NULL;
    memset(st, 0, sizeof *st);
    tu_ok(veil_gateway_standalone_keys(&keys));
    veil_gateway_config gc = {.address = "127.0.0.1",
                              .keys = keys,
                              .attester = att,
                              .attestation_header = true,
                              .handler = h,
                              .handler_ctx = hctx,
                              .max_concurrent = max_concurrent,
                              .timeout_ms = 20000,
                              .stop_grace_ms = 2000};
    tu_ok(veil_gateway_start(&gc, &st->gw));
    snprintf(st->gw_url, sizeof st->gw_url, "http://127.0.0.1:%u", veil_gateway_port(st->gw));
    char target[200];
    snprintf(target, sizeof target, "%s%s", relay_target ? relay_target : st->gw_url,
             VEIL_GATEWAY_PATH);
    const char *gws[1] = {target};
    veil_relay_config rc = {.address = "127.0.0.1",
                            .gateways = gws,
                            .n_gateways = 1,
                            .timeout_ms = 60000,
                            .stop_grace_ms = 2000};
    tu_ok(veil_relay_start(&rc, &st->relay));
    snprintf(st->relay_url, sizeof st->relay_url, "http://127.0.0.1:%u/",
             veil_relay_port(st->relay));
}

static void stack_stop(struct stack *st)
{
    veil_relay_stop(st->relay);
    veil_gateway_stop(st->gw);
}

static veil_client *client_for(const char *gateway_url, const char *relay_url, const char *policy)
{
    veil_client *c = NULL;
    veil_client_opts o = {.gateway_url = gateway_url,
                          .relay_url = relay_url,
                          .policy_json = policy,
                          .timeout_ms = 120000};
    tu_ok(veil_client_new(&o, &c));
    return c;
}

static veil_bhttp_msg *post(veil_client *c, const char *path, const char *body)
{
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_client_build_request(c, "POST", path, "text/plain", body, strlen(body), &m));
    return m;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_request_response(void **state)
{
    (void)state;
    struct stack st;
    veil_client_report rep;
    veil_bhttp_msg *req = NULL, *resp = NULL;
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);
    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);

    /* Nothing is sent before verification. */
    req = post(c, "/echo", "ping");
    assert_int_equal(veil_client_request(c, req, &resp).cls, VEIL_E_USAGE);

    tu_ok(veil_client_verify(c, &rep));
    assert_true(rep.accepted);
    assert_true(rep.simulated);
    assert_string_equal(rep.measurement, S.a.hex);
    assert_string_equal(rep.tee, "sev-snp");
    uint8_t ksha[32], esha[32];
    char khex[65], ehex[65], want[160];
    veil_gateway_keys_sha256(st.gw, ksha);
    veil_gateway_evidence_sha256(st.gw, esha);
    veil_hex_encode(ksha, 32, khex);
    veil_hex_encode(esha, 32, ehex);
    assert_string_equal(rep.keys_sha256, khex);

    tu_ok(veil_client_request(c, req, &resp));
    assert_int_equal(veil_bhttp_status(resp), 200);
    size_t n = 0;
    const uint8_t *content = veil_bhttp_content(resp, &n);
    tu_assert_bytes(content, n, (const uint8_t *)"ping", 4);
    const veil_bhttp_field *att = veil_bhttp_header_find(resp, VEIL_GATEWAY_ATTEST_HEADER);
    assert_non_null(att);
    snprintf(want, sizeof want, "%s; keys=%s", ehex, khex);
    assert_string_equal((const char *)att->value, want);
    veil_bhttp_msg_free(resp);
    resp = NULL;

    /* An unknown route is answered by the application, inside the encryption. */
    veil_bhttp_msg_free(req);
    req = post(c, "/nope", "x");
    tu_ok(veil_client_request(c, req, &resp));
    assert_int_equal(veil_bhttp_status(resp), 404);

    /* The text and JSON reports name what was verified. */
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_client_report_text(&rep, &b));
    tu_ok(veil_buf_u8(&b, 0));
    assert_non_null(strstr((char *)b.data, "SIMULATED"));
    assert_non_null(strstr((char *)b.data, S.a.hex));
    veil_buf_clear(&b);
    tu_ok(veil_client_report_json(&rep, &b));
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "accepted");
    json_decref(j);
    veil_buf_free(&b);

    veil_bhttp_msg_free(resp);
    veil_bhttp_msg_free(req);
    veil_client_free(c);
    stack_stop(&st);
}

struct events {
    unsigned status;
    int n;
    char text[256];
    size_t len;
};

static int ev_head(void *ctx, const veil_bhttp_msg *head)
{
    ((struct events *)ctx)->status = veil_bhttp_status(head);
    return 0;
}

static int ev_data(void *ctx, const uint8_t *p, size_t n)
{
    struct events *e = ctx;
    e->n++;
    if (e->len + n < sizeof e->text) {
        memcpy(e->text + e->len, p, n);
        e->len += n;
        e->text[e->len] = '\0';
    }
    return 0;
}

static void test_chunked_stream(void **state)
{
    (void)state;
    struct stack st;
    struct events e = {0};
    veil_client_sink sink = {ev_head, ev_data, &e};
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);
    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);
    tu_ok(veil_client_verify(c, NULL));

    /* Server-sent events arrive one decrypted chunk each. */
    veil_bhttp_msg *req = post(c, "/stream", "{}");
    tu_ok(veil_client_request_stream(c, req, &sink));
    assert_int_equal(e.status, 200);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.text, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
    veil_bhttp_msg_free(req);

    /* A request larger than one upload chunk, echoed back whole. */
    size_t big = 300000;
    char *blob = veil_calloc(1, big + 1);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)('a' + i % 26);
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_client_build_request(c, "POST", "/echo", "text/plain", blob, big, &m));
    struct events e2 = {0};
    veil_client_sink collect = {ev_head, ev_data, &e2};
    tu_ok(veil_client_request_stream(c, m, &collect));
    assert_int_equal(e2.status, 200);
    assert_true(e2.n >= 1);
    veil_client_audit a;
    tu_ok(veil_client_audit_get(c, &a));
    assert_true(a.have_exchange);
    veil_bhttp_msg_free(m);
    veil_free(blob);

    /* A stream the application abandons is an error, never a short answer. */
    struct events e3 = {0};
    sink.ctx = &e3;
    req = post(c, "/break", "{}");
    veil_result r = veil_client_request_stream(c, req, &sink);
    assert_false(veil_ok(r));
    assert_true(e3.n <= 3);
    veil_bhttp_msg_free(req);
    veil_gateway_counters gcn;
    veil_gateway_counters_get(st.gw, &gcn);
    assert_true(gcn.aborted >= 1);

    veil_client_free(c);
    stack_stop(&st);
}

/* POST raw bytes to the gateway (no client, no relay). */
static long raw_post(const char *gw_url, const char *ctype, const void *body, size_t n,
                     veil_http_client_response *out)
{
    char url[200];
    snprintf(url, sizeof url, "%s/gateway", gw_url);
    memset(out, 0, sizeof *out);
    tu_ok(veil_http_post(url, ctype, body, n, NULL, out));
    return out->status;
}

static void test_clear_errors(void **state)
{
    (void)state;
    struct stack st;
    veil_http_client_response out;
    veil_ohttp_keyconfig cfgs[4];
    size_t n = 0, skipped = 0;
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);
    char url[200];
    snprintf(url, sizeof url, "%s/ohttp-keys", st.gw_url);
    memset(&out, 0, sizeof out);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 200);
    assert_string_equal(out.content_type, VEIL_OHTTP_MT_KEYS);
    tu_ok(veil_ohttp_keys_decode(out.body.data, out.body.len, cfgs, 4, &n, &skipped));
    assert_int_equal(n, 1);
    veil_http_client_response_free(&out);

    /* A wrong key id: 422 with RFC 9458's ohttp-key problem type, in the clear. */
    veil_ohttp_keyconfig wrong = cfgs[0];
    wrong.key_id ^= 0x5a;
    size_t idx;
    veil_hpke_suite suite;
    tu_ok(veil_ohttp_select(&wrong, 1, &idx, &suite));
    veil_buf enc;
    veil_buf_init(&enc, 0);
    veil_ohttp_client_ctx *cc = NULL;
    tu_ok(veil_ohttp_client_encap(&wrong, &suite, (const uint8_t *)"\x00", 1, &enc, &cc));
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_REQUEST, enc.data, enc.len, &out), 422);
    assert_string_equal(out.content_type, VEIL_HTTP_MT_PROBLEM);
    tu_ok(veil_buf_u8(&out.body, 0));
    assert_non_null(strstr((char *)out.body.data, "http-problem-types#ohttp-key"));
    veil_http_client_response_free(&out);
    veil_ohttp_client_ctx_free(cc);
    veil_buf_free(&enc);

    /* Garbage: 400 (its first byte names no key of ours: 422). Tampered
     * ciphertext: 400. Wrong media type: 415. */
    uint8_t garbage[] = "garbage";
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_REQUEST, &cfgs[0].key_id, 1, &out), 400);
    assert_string_equal(out.content_type, VEIL_HTTP_MT_PROBLEM);
    veil_http_client_response_free(&out);
    garbage[0] = (uint8_t)(cfgs[0].key_id ^ 0xff);
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_REQUEST, garbage, 7, &out), 422);
    veil_http_client_response_free(&out);
    cc = NULL;
    veil_buf_init(&enc, 0);
    tu_ok(veil_ohttp_select(cfgs, 1, &idx, &suite));
    tu_ok(veil_ohttp_client_encap(cfgs, &suite, (const uint8_t *)"\x00", 1, &enc, &cc));
    enc.data[enc.len - 1] ^= 1;
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_REQUEST, enc.data, enc.len, &out), 400);
    veil_http_client_response_free(&out);
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_CHUNKED_REQUEST, &cfgs[0].key_id, 1, &out),
                     400); /* truncated header */
    veil_http_client_response_free(&out);
    assert_int_equal(raw_post(st.gw_url, "text/plain", "x", 1, &out), 415);
    veil_http_client_response_free(&out);
    veil_ohttp_client_ctx_free(cc);
    veil_buf_free(&enc);

    /* A well-encrypted request whose plaintext is not Binary HTTP: answered
     * encrypted (400 inside), not in the clear. */
    veil_buf_init(&enc, 0);
    cc = NULL;
    tu_ok(veil_ohttp_client_encap(cfgs, &suite, (const uint8_t *)"\x07", 1, &enc, &cc));
    assert_int_equal(raw_post(st.gw_url, VEIL_OHTTP_MT_REQUEST, enc.data, enc.len, &out), 200);
    assert_string_equal(out.content_type, VEIL_OHTTP_MT_RESPONSE);
    veil_buf plain;
    veil_buf_init(&plain, 0);
    tu_ok(veil_ohttp_client_decap(cc, out.body.data, out.body.len, &plain));
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_bhttp_decode(plain.data, plain.len, NULL, &m));
    assert_int_equal(veil_bhttp_status(m), 400);
    veil_bhttp_msg_free(m);
    veil_buf_free(&plain);
    veil_http_client_response_free(&out);
    veil_ohttp_client_ctx_free(cc);
    veil_buf_free(&enc);

    /* Health, metrics (counts only), 404, 405, a bad nonce. */
    snprintf(url, sizeof url, "%s/healthz", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 200);
    veil_http_client_response_free(&out);
    snprintf(url, sizeof url, "%s/metrics", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 200);
    tu_ok(veil_buf_u8(&out.body, 0));
    assert_non_null(strstr((char *)out.body.data, "veil_gateway_errors_total{class=\"key_id\"} 2"));
    assert_non_null(
        strstr((char *)out.body.data, "veil_gateway_errors_total{class=\"decapsulation\"} 3"));
    assert_non_null(strstr((char *)out.body.data, "veil_gateway_request_duration_seconds_bucket"));
    veil_http_client_response_free(&out);
    snprintf(url, sizeof url, "%s/nothing", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 404);
    veil_http_client_response_free(&out);
    snprintf(url, sizeof url, "%s/gateway", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 405);
    veil_http_client_response_free(&out);
    snprintf(url, sizeof url, "%s/v1/attestation?nonce=abc", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 400);
    veil_http_client_response_free(&out);

    /* The evidence document is a bundle `veil verify` reads, plus the binding. */
    snprintf(url, sizeof url, "%s/v1/attestation", st.gw_url);
    tu_ok(veil_http_get(url, NULL, &out));
    assert_int_equal(out.status, 200);
    veil_evidence ev;
    veil_evidence_init(&ev);
    tu_ok(veil_evidence_parse(out.body.data, out.body.len, &ev));
    veil_evidence_free(&ev);
    veil_http_client_response_free(&out);
    stack_stop(&st);
}

static void expect_refused(const char *gw_url, const char *relay_url, const char *policy,
                           const char *check)
{
    veil_client_report rep;
    veil_client *c = client_for(gw_url, relay_url, policy);
    veil_result r = veil_client_verify(c, &rep);
    assert_false(veil_ok(r));
    assert_false(rep.accepted);
    assert_false(veil_client_verified(c));
    if (strcmp(rep.failed_check, check) != 0)
        fprintf(stderr, "refused at %s (%s), expected %s\n", rep.failed_check, rep.reason, check);
    assert_string_equal(rep.failed_check, check);
    assert_non_null(strstr(r.msg, check));
    /* and nothing can be sent */
    veil_bhttp_msg *req = post(c, "/echo", "secret"), *resp = NULL;
    assert_int_equal(veil_client_request(c, req, &resp).cls, VEIL_E_USAGE);
    assert_null(resp);
    veil_bhttp_msg_free(req);
    veil_client_free(c);
}

static void test_refusals(void **state)
{
    (void)state;
    struct stack st, other;
    char tap_url[64];
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);

    /* The measurement the user's policy does not accept. */
    expect_refused(st.gw_url, st.relay_url, S.policy_other, "measurement");
    /* The simulated root, unless the policy names it. */
    expect_refused(st.gw_url, st.relay_url, S.policy_no_root, "chain");

    /* Evidence for another nonce (a replay): REPORT_DATA does not match. */
    veil_http_server *tap = tap_start(st.gw_url, TAP_REWRITE_NONCE, tap_url, sizeof tap_url);
    expect_refused(tap_url, st.relay_url, S.policy_a, "report_data");
    veil_http_server_stop(tap);

    /* Keys swapped by someone in the middle: the evidence binds other keys. */
    stack_start(&other, S.a.att, fake_app, NULL, 0, NULL);
    tap = tap_start(st.gw_url, TAP_SWAP_KEYS, tap_url, sizeof tap_url);
    snprintf(T.keys_target, sizeof T.keys_target, "%s", other.gw_url);
    expect_refused(tap_url, st.relay_url, S.policy_a, "report_data");
    veil_http_server_stop(tap);
    stack_stop(&other);
    stack_stop(&st);

    /* A gateway binary that differs by one byte. */
    stack_start(&st, S.b.att, fake_app, NULL, 0, NULL);
    expect_refused(st.gw_url, st.relay_url, S.policy_a, "measurement");
    stack_stop(&st);

    /* No gateway at all. */
    expect_refused("http://127.0.0.1:1", NULL, S.policy_a, "gateway");

    /* A policy that accepts any code is refused up front. */
    veil_client *c = NULL;
    veil_client_opts o = {.gateway_url = "http://127.0.0.1:1", .policy_json = "{}"};
    assert_int_equal(veil_client_new(&o, &c).cls, VEIL_E_USAGE);
    assert_null(c);
}

struct slow_job {
    const char *gw, *relay;
    veil_result r;
    unsigned status;
};

static void *slow_thread(void *arg)
{
    struct slow_job *j = arg;
    veil_client *c = client_for(j->gw, j->relay, S.policy_a);
    veil_bhttp_msg *req = NULL, *resp = NULL;
    j->r = veil_client_verify(c, NULL);
    if (veil_ok(j->r))
        j->r = veil_client_build_request(c, "POST", "/slow", NULL, NULL, 0, &req);
    if (veil_ok(j->r))
        j->r = veil_client_request(c, req, &resp);
    if (veil_ok(j->r))
        j->status = veil_bhttp_status(resp);
    veil_bhttp_msg_free(req);
    veil_bhttp_msg_free(resp);
    veil_client_free(c);
    return NULL;
}

static void test_busy(void **state)
{
    (void)state;
    struct stack st;
    pthread_t th;
    stack_start(&st, S.a.att, fake_app, NULL, 1, NULL);
    F.release = false;
    struct slow_job j = {st.gw_url, st.relay_url, VEIL_OK, 0};
    assert_int_equal(pthread_create(&th, NULL, slow_thread, &j), 0);
    bool waiting = false;
    for (int i = 0; i < 1000 && !waiting; i++) {
        pthread_mutex_lock(&F.mu);
        waiting = F.slow_waiting > 0;
        pthread_mutex_unlock(&F.mu);
        if (!waiting)
            sleep_ms(10);
    }
    assert_true(waiting);
    /* Over the limit: 503 in the clear, which the client names. */
    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);
    veil_bhttp_msg *req = post(c, "/echo", "x"), *resp = NULL;
    tu_ok(veil_client_verify(c, NULL));
    veil_result r = veil_client_request(c, req, &resp);
    assert_false(veil_ok(r));
    assert_non_null(strstr(r.msg, "busy"));
    pthread_mutex_lock(&F.mu);
    F.release = true;
    pthread_mutex_unlock(&F.mu);
    pthread_join(th, NULL);
    tu_ok(j.r);
    assert_int_equal(j.status, 200);
    veil_gateway_counters n;
    veil_gateway_counters_get(st.gw, &n);
    assert_true(n.busy >= 1);
    veil_bhttp_msg_free(req);
    veil_client_free(c);
    stack_stop(&st);
}

static bool seen_contains(const void *needle, size_t n)
{
    pthread_mutex_lock(&T.mu);
    bool found = memmem(T.seen.data, T.seen.len, needle, n) != NULL;
    pthread_mutex_unlock(&T.mu);
    return found;
}

/* Everything between the relay and the gateway is ciphertext: neither the
 * audio nor any word of the transcript appears in it. */
static void relay_sees_no_plaintext(veil_gateway_handler_fn h, void *ctx, const uint8_t *audio,
                                    size_t audio_len)
{
    struct stack st;
    char tap_url[64];
    veil_http_server *tap = NULL;
    veil_bhttp_msg *resp = NULL;
    /* gateway first, then the tap in front of it, then the relay to the tap */
    stack_start(&st, S.a.att, h, ctx, 0, NULL);
    tap = tap_start(st.gw_url, TAP_PASS, tap_url, sizeof tap_url);
    veil_relay_stop(st.relay);
    char target[200];
    snprintf(target, sizeof target, "%s%s", tap_url, VEIL_GATEWAY_PATH);
    const char *gws[1] = {target};
    veil_relay_config rc = {.address = "127.0.0.1",
                            .gateways = gws,
                            .n_gateways = 1,
                            .timeout_ms = 120000,
                            .stop_grace_ms = 2000};
    tu_ok(veil_relay_start(&rc, &st.relay));
    snprintf(st.relay_url, sizeof st.relay_url, "http://127.0.0.1:%u/", veil_relay_port(st.relay));

    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);
    tu_ok(veil_client_verify(c, NULL));
    veil_client_transcription t = {
        .audio = audio, .audio_len = audio_len, .filename = "secret.wav", .language = "en"};
    tu_ok(veil_client_transcribe(c, &t, &resp));
    assert_int_equal(veil_bhttp_status(resp), 200);
    size_t n = 0;
    const uint8_t *content = veil_bhttp_content(resp, &n);
    json_t *j = json_loadb((const char *)content, n, 0, NULL);
    assert_non_null(j);
    const char *text = json_string_value(json_object_get(j, "text"));
    assert_non_null(text);
    assert_true(strlen(text) > 0);

    pthread_mutex_lock(&T.mu);
    assert_true(T.seen.len > audio_len); /* the whole exchange went through the tap */
    pthread_mutex_unlock(&T.mu);
    /* no window of the audio */
    for (size_t off = 0; off + 32 <= audio_len; off += audio_len / 7)
        assert_false(seen_contains(audio + off, 32));
    /* no word of the transcript (of 4 letters or more), nor the file name */
    char words[1024];
    snprintf(words, sizeof words, "%s", text);
    size_t checked = 0;
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (strlen(w) >= 4) {
            assert_false(seen_contains(w, strlen(w)));
            checked++;
        }
    assert_true(checked > 0);
    assert_false(seen_contains("secret.wav", 10));
    assert_false(seen_contains("multipart/form-data", 19));
    json_decref(j);
    veil_bhttp_msg_free(resp);
    veil_client_free(c);
    stack_stop(&st);
    veil_http_server_stop(tap);
}

static void test_relay_sees_no_plaintext_fake(void **state)
{
    (void)state;
    uint8_t audio[4096];
    for (size_t i = 0; i < sizeof audio; i++)
        audio[i] = (uint8_t)(i * 7 + (i >> 8));
    relay_sees_no_plaintext(fake_app, NULL, audio, sizeof audio);
}

static void test_relay_sees_no_plaintext_real(void **state)
{
    (void)state;
    if (!S.app) {
        fprintf(stderr, "pocketsphinx or its test data missing: real transcription skipped\n");
        skip();
    }
    size_t n = 0;
    FILE *f = fopen(LIBRIVOX_WAV, "rb");
    assert_non_null(f);
    uint8_t *wav = veil_calloc(1, 1 << 20);
    n = fread(wav, 1, 1 << 20, f);
    fclose(f);
    assert_true(n > 44);
    relay_sees_no_plaintext(app_handler, S.app, wav, n);
    veil_free(wav);
}

static void test_audit(void **state)
{
    (void)state;
    struct stack st;
    veil_client_report rep, again;
    veil_bhttp_msg *req = NULL, *resp = NULL;
    veil_buf b;
    veil_buf_init(&b, 0);
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);
    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);
    tu_ok(veil_client_verify(c, &rep));
    req = post(c, "/echo", "audited");
    tu_ok(veil_client_request(c, req, &resp));
    tu_ok(veil_client_audit_bundle(c, &rep, &b));
    tu_ok(veil_client_audit_verify(b.data, b.len, 0, &again));
    assert_true(again.accepted);
    assert_string_equal(again.measurement, S.a.hex);
    assert_string_equal(again.keys_sha256, rep.keys_sha256);

    /* Tampering with any recorded part is caught. */
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_non_null(j);
    json_t *v = json_object_get(j, "verdict");
    json_object_set_new(v, "measurement", json_string(S.b.hex));
    char *s = json_dumps(j, JSON_COMPACT);
    assert_false(veil_ok(veil_client_audit_verify((uint8_t *)s, strlen(s), 0, &again)));
    free(s);
    json_object_set_new(v, "measurement", json_string(S.a.hex));
    json_object_set_new(j, "nonce",
                        json_string("00000000000000000000000000000000000000000000000000"
                                    "00000000000000"));
    s = json_dumps(j, JSON_COMPACT);
    veil_result r = veil_client_audit_verify((uint8_t *)s, strlen(s), 0, &again);
    assert_false(veil_ok(r));
    assert_string_equal(again.failed_check, "report_data");
    free(s);
    json_decref(j);

    veil_buf_free(&b);
    veil_bhttp_msg_free(req);
    veil_bhttp_msg_free(resp);
    veil_client_free(c);
    stack_stop(&st);
}

static void test_report_data_encoding(void **state)
{
    (void)state;
    /* SHA-512("veil-gateway-attest-v1" || nonce || keys_sha256), by hand. */
    uint8_t nonce[16], ksha[32], got[64];
    memset(nonce, 0xab, sizeof nonce);
    memset(ksha, 0xcd, sizeof ksha);
    tu_ok(veil_gateway_report_data(nonce, sizeof nonce, ksha, got));
    uint8_t msg[22 + 16 + 32];
    memcpy(msg, "veil-gateway-attest-v1", 22);
    memcpy(msg + 22, nonce, 16);
    memcpy(msg + 38, ksha, 32);
    uint8_t want[64];
    SHA512(msg, sizeof msg, want);
    tu_assert_bytes(got, 64, want, 64);
    /* nonce lengths outside 16..64 (except the empty start nonce) are refused */
    assert_int_equal(veil_gateway_report_data(nonce, 15, ksha, got).cls, VEIL_E_USAGE);
    tu_ok(veil_gateway_report_data(NULL, 0, ksha, got));
}

/* veil_gateway_update_keys (a KMS rotation): the gateway switches to the
 * new set; a client verified against the old list is refused (422,
 * ohttp-key) and a fresh verification gets the new list, with new start
 * evidence in the veil-attestation header. */
static void test_key_rotation(void **state)
{
    (void)state;
    struct stack st;
    veil_client_report rep;
    veil_bhttp_msg *req = NULL, *resp = NULL;
    uint8_t k0[32], e0[32], k1[32], e1[32];
    bool changed = false;
    stack_start(&st, S.a.att, fake_app, NULL, 0, NULL);
    veil_client *old = client_for(st.gw_url, st.relay_url, S.policy_a);
    tu_ok(veil_client_verify(old, &rep));
    veil_gateway_keys_sha256(st.gw, k0);
    veil_gateway_evidence_sha256(st.gw, e0);

    veil_ohttp_gateway *fresh = NULL;
    tu_ok(veil_gateway_standalone_keys(&fresh));
    tu_ok(veil_gateway_update_keys(st.gw, fresh, &changed));
    assert_true(changed);
    veil_gateway_keys_sha256(st.gw, k1);
    veil_gateway_evidence_sha256(st.gw, e1);
    assert_memory_not_equal(k0, k1, 32);
    assert_memory_not_equal(e0, e1, 32);

    req = post(old, "/echo", "ping");
    veil_result r = veil_client_request(old, req, &resp);
    assert_false(veil_ok(r));
    assert_non_null(strstr(r.msg, "ohttp-key"));

    veil_client *c = client_for(st.gw_url, st.relay_url, S.policy_a);
    tu_ok(veil_client_verify(c, &rep));
    char khex[65], ehex[65], want[160];
    veil_hex_encode(k1, 32, khex);
    veil_hex_encode(e1, 32, ehex);
    assert_string_equal(rep.keys_sha256, khex);
    tu_ok(veil_client_request(c, req, &resp));
    assert_int_equal(veil_bhttp_status(resp), 200);
    const veil_bhttp_field *att = veil_bhttp_header_find(resp, VEIL_GATEWAY_ATTEST_HEADER);
    assert_non_null(att);
    snprintf(want, sizeof want, "%s; keys=%s", ehex, khex);
    assert_string_equal((const char *)att->value, want);

    /* a set without keys is refused and the served list stays */
    veil_ohttp_gateway *empty = NULL;
    uint8_t k2[32];
    tu_ok(veil_ohttp_gateway_new(&empty));
    assert_false(veil_ok(veil_gateway_update_keys(st.gw, empty, &changed)));
    assert_false(changed);
    veil_gateway_keys_sha256(st.gw, k2);
    assert_memory_equal(k1, k2, 32);

    veil_bhttp_msg_free(resp);
    veil_bhttp_msg_free(req);
    veil_client_free(c);
    veil_client_free(old);
    stack_stop(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data_encoding),
        cmocka_unit_test(test_request_response),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_chunked_stream),
        cmocka_unit_test(test_clear_errors),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_relay_sees_no_plaintext_fake),
        cmocka_unit_test(test_relay_sees_no_plaintext_real),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
