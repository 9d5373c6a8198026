/* The Oblivious HTTP relay (include/veil/relay.h).
 *
 * One exchange per client request, on two threads:
 *
 *   connection thread (MHD)                 upstream thread (curl)
 *   begin: checks, start upstream  ------>  POST to the gateway
 *   body pieces  -> up ring  ------------>  up_read (request body)
 *   handler: wait for the gateway's head <- down_head (status, type)
 *   down_read (response body) <- down ring  <- down_body
 *   free_state: cancel, join
 *
 * Both rings are bounded (RING bytes): a slow reader on either side holds the
 * writer back instead of growing memory. Every wait is bounded by the relay's
 * timeout and wakes at least every WAIT_SLICE_MS to notice a cancel or a
 * hard stop. Nothing here logs; only counters leave the relay. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relay/relay_internal.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/relay.h"

#define RING ((size_t)64 << 10)
#define WAIT_SLICE_MS 100
#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_CONNECTIONS 256u
#define RESPONSE_MAX ((size_t)64 << 20)
#define RL_SETS 2048 /* x VEIL_RL_WAYS buckets */

struct veil_relay {
    veil_http_server *srv;
    char **gateways;
    size_t n_gateways;
    unsigned timeout_ms;
    char *ca_file;
    veil_ratelimit rl;
    bool rl_ready;
    atomic_bool hard_stop;
    struct {
        atomic_uint_fast64_t requests, forwarded, relayed, not_found, bad_method, bad_media_type,
            rate_limited, bad_gateway, gateway_timeout, bytes_up, bytes_down;
    } n;
};

struct ring {
    uint8_t *buf;
    size_t head, len;
};

struct exchange {
    veil_relay *relay;
    const char *url;
    const char *media_type; /* canonical request type forwarded */
    bool incremental;
    bool has_length;
    uint64_t length;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change below */
    struct ring up, down;
    bool up_eof; /* the client's body is complete */
    bool head;   /* the gateway's response head arrived */
    long status;
    const char *resp_type; /* canonical allowed response type, NULL if not allowed */
    bool done;             /* the upstream transfer finished */
    veil_http_failure failure;
    bool cancel;
    bool thread_started;
    pthread_t thread;
};

/* ---- bounded rings ---------------------------------------------------------------------- */

static size_t ring_put(struct ring *r, const uint8_t *p, size_t n)
{
    size_t room = RING - r->len, done = 0;
    if (n > room)
        n = room;
    while (done < n) {
        size_t tail = (r->head + r->len) % RING;
        size_t k = RING - tail < n - done ? RING - tail : n - done;
        memcpy(r->buf + tail, p + done, k);
        r->len += k;
        done += k;
    }
    return done;
}

static size_t ring_get(struct ring *r, uint8_t *p, size_t cap)
{
    size_t n = r->len < cap ? r->len : cap, done = 0;
    while (done < n) {
        size_t k = RING - r->head < n - done ? RING - r->head : n - done;
        memcpy(p + done, r->buf + r->head, k);
        r->head = (r->head + k) % RING;
        r->len -= k;
        done += k;
    }
    return done;
}

/* ---- waiting ----------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopped(const struct exchange *ex)
{
    return ex->cancel || atomic_load(&ex->relay->hard_stop);
}

/* One slice of waiting on ex->cv (mu held). False once `deadline_ms` passed. */
static bool wait_slice(struct exchange *ex, int64_t deadline_ms)
{
    int64_t now = mono_ms();
    if (now >= deadline_ms)
        return false;
    int64_t ms = deadline_ms - now < WAIT_SLICE_MS ? deadline_ms - now : WAIT_SLICE_MS;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    (void)pthread_cond_timedwait(&ex->cv, &ex->mu, &ts);
    return true;
}

static void cancel_locked(struct exchange *ex)
{
    ex->cancel = true;
    pthread_cond_broadcast(&ex->cv);
}

/* ---- upstream side (curl thread) ------------------------------------------------------- */

/* The request body for curl: what the client has sent so far. */
static ssize_t up_read(void *ctx, uint8_t *buf, size_t cap)
{
    struct exchange *ex = ctx;
    ssize_t n = VEIL_HTTP_STREAM_ERROR;
    int64_t deadline = mono_ms() + ex->relay->timeout_ms;
    pthread_mutex_lock(&ex->mu);
    while (!stopped(ex) && ex->up.len == 0 && !ex->up_eof)
        if (!wait_slice(ex, deadline)) {
            cancel_locked(ex); /* the client stalled mid-body */
            break;
        }
    if (!stopped(ex) && ex->up.len > 0) {
        n = (ssize_t)ring_get(&ex->up, buf, cap);
        pthread_cond_broadcast(&ex->cv);
    } else if (!stopped(ex) && ex->up_eof) {
        n = 0;
    }
    pthread_mutex_unlock(&ex->mu);
    return n;
}

static const char *allowed_response_type(const char *ct)
{
    static const char *const ok[] = {VEIL_OHTTP_MT_RESPONSE, VEIL_OHTTP_MT_CHUNKED_RESPONSE,
                                     VEIL_HTTP_MT_PROBLEM};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (veil_http_content_type_is(ct, ok[i]))
            return ok[i];
    return NULL;
}

static int down_head(void *ctx, long status, const char *content_type)
{
    struct exchange *ex = ctx;
    pthread_mutex_lock(&ex->mu);
    ex->head = true;
    ex->status = status;
    ex->resp_type = allowed_response_type(content_type);
    pthread_cond_broadcast(&ex->cv);
    bool go_on = ex->resp_type && status >= 200 && status <= 599;
    pthread_mutex_unlock(&ex->mu);
    return go_on ? 0 : 1; /* the handler answers 502 */
}

static int down_body(void *ctx, const uint8_t *p, size_t n)
{
    struct exchange *ex = ctx;
    int rc = 0;
    int64_t deadline = mono_ms() + ex->relay->timeout_ms;
    atomic_fetch_add(&ex->relay->n.bytes_down, n);
    pthread_mutex_lock(&ex->mu);
    while (n > 0 && rc == 0) {
        if (stopped(ex)) {
            rc = 1;
        } else if (ex->down.len < RING) {
            size_t k = ring_put(&ex->down, p, n);
            p += k;
            n -= k;
            pthread_cond_broadcast(&ex->cv);
            deadline = mono_ms() + ex->relay->timeout_ms;
        } else if (!wait_slice(ex, deadline)) {
            cancel_locked(ex); /* the client stopped reading */
            rc = 1;
        }
    }
    pthread_mutex_unlock(&ex->mu);
    return rc;
}

static bool up_cancelled(void *ctx)
{
    struct exchange *ex = ctx;
    pthread_mutex_lock(&ex->mu);
    bool c = stopped(ex);
    pthread_mutex_unlock(&ex->mu);
    return c;
}

static void *upstream_main(void *arg)
{
    struct exchange *ex = arg;
    veil_http_header h[1] = {{"Incremental", "?1"}};
    veil_http_client_request req = {.method = "POST",
                                    .url = ex->url,
                                    .content_type = ex->media_type,
                                    .headers = h,
                                    .n_headers = ex->incremental ? 1 : 0};
    if (!ex->has_length || ex->length > 0) {
        req.read_body = up_read;
        req.read_ctx = ex;
        req.read_len = ex->has_length ? ex->length : 0;
    }
    veil_http_client_opts o = {.connect_timeout_ms = ex->relay->timeout_ms,
                               .timeout_ms = VEIL_HTTP_NO_TIMEOUT, /* pauses are timed here */
                               .max_response = RESPONSE_MAX,
                               .ca_file = ex->relay->ca_file};
    veil_http_client_sink sink = {
        .on_head = down_head, .on_body = down_body, .cancelled = up_cancelled, .ctx = ex};
    veil_http_client_response resp;
    veil_result r = veil_http_fetch_stream(&req, &o, &sink, &resp);
    pthread_mutex_lock(&ex->mu);
    ex->done = true;
    ex->failure = veil_ok(r) ? VEIL_HTTP_FAIL_NONE : resp.failure;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    veil_http_client_response_free(&resp);
    return NULL;
}

/* ---- client side (connection thread) --------------------------------------------------- */

/* A piece of the client's body: into the up ring, waiting for room. Once
 * the upstream transfer is over (the gateway answered early or failed), the
 * rest is dropped so the client can still get that answer. */
static int up_piece(void *ctx, const uint8_t *p, size_t n)
{
    struct exchange *ex = ctx;
    int rc = 0;
    int64_t deadline = mono_ms() + ex->relay->timeout_ms;
    pthread_mutex_lock(&ex->mu);
    while (n > 0 && rc == 0 && !ex->done) {
        if (stopped(ex)) {
            rc = 1;
        } else if (ex->up.len < RING) {
            size_t k = ring_put(&ex->up, p, n);
            atomic_fetch_add(&ex->relay->n.bytes_up, k);
            p += k;
            n -= k;
            pthread_cond_broadcast(&ex->cv);
            deadline = mono_ms() + ex->relay->timeout_ms;
        } else if (!wait_slice(ex, deadline)) {
            cancel_locked(ex); /* the gateway stopped reading */
            rc = 1;
        }
    }
    pthread_mutex_unlock(&ex->mu);
    return rc;
}

/* The response body for MHD: what the gateway has sent so far. */
static ssize_t down_read(void *ctx, uint8_t *buf, size_t cap)
{
    struct exchange *ex = ctx;
    ssize_t n = VEIL_HTTP_STREAM_ERROR;
    int64_t deadline = mono_ms() + ex->relay->timeout_ms;
    pthread_mutex_lock(&ex->mu);
    while (!stopped(ex) && ex->down.len == 0 && !ex->done)
        if (!wait_slice(ex, deadline)) {
            cancel_locked(ex); /* the gateway paused too long */
            break;
        }
    if (!stopped(ex) && ex->down.len > 0) {
        n = (ssize_t)ring_get(&ex->down, buf, cap);
        pthread_cond_broadcast(&ex->cv);
    } else if (!stopped(ex) && ex->done && ex->failure == VEIL_HTTP_FAIL_NONE) {
        n = 0; /* clean end: the chunked body is terminated */
    }
    pthread_mutex_unlock(&ex->mu);
    return n;
}

static void exchange_free(void *p)
{
    struct exchange *ex = p;
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    cancel_locked(ex);
    pthread_mutex_unlock(&ex->mu);
    if (ex->thread_started)
        pthread_join(ex->thread, NULL);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    veil_free_wiped(ex->up.buf, RING);
    veil_free_wiped(ex->down.buf, RING);
    veil_free(ex);
}

static struct exchange *exchange_new(veil_relay *relay, const char *url)
{
    struct exchange *ex = veil_calloc(1, sizeof *ex);
    pthread_condattr_t ca;
    if (!ex)
        return NULL;
    ex->relay = relay;
    ex->url = url;
    ex->up.buf = veil_calloc(1, RING);
    ex->down.buf = veil_calloc(1, RING);
    bool ok = ex->up.buf && ex->down.buf && pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&ex->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (ok && pthread_mutex_init(&ex->mu, NULL) != 0) {
        pthread_cond_destroy(&ex->cv);
        ok = false;
    }
    if (!ok) {
        veil_free(ex->up.buf);
        veil_free(ex->down.buf);
        veil_free(ex);
        return NULL;
    }
    return ex;
}

/* "/" -> 0, "/relay/<i>" -> i (decimal, no leading zeros); SIZE_MAX otherwise. */
static size_t route(const veil_relay *relay, const char *path)
{
    if (!strcmp(path, "/"))
        return 0;
    static const char prefix[] = "/relay/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return SIZE_MAX;
    const char *d = path + sizeof prefix - 1;
    size_t i = 0, len = strlen(d);
    if (len == 0 || len > 2 || (len > 1 && d[0] == '0'))
        return SIZE_MAX;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return SIZE_MAX;
        i = i * 10 + (size_t)(*d - '0');
    }
    return i < relay->n_gateways ? i : SIZE_MAX;
}

static bool parse_length(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    if (!v || !*v)
        return false;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return true;
}

static void begin(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    veil_relay *relay = ctx;
    unsigned retry = 0;
    atomic_fetch_add(&relay->n.requests, 1);
    if (!veil_rl_take(&relay->rl, veil_http_req_client_addr(req), mono_ms(), &retry)) {
        char v[16];
        snprintf(v, sizeof v, "%u", retry);
        atomic_fetch_add(&relay->n.rate_limited, 1);
        veil_http_problem(resp, 429, "rate-limited", "Too Many Requests",
                          "too many requests from this client; retry later");
        veil_http_resp_header(resp, "Retry-After", v);
        return;
    }
    size_t gw = route(relay, veil_http_req_path(req));
    if (gw == SIZE_MAX) {
        atomic_fetch_add(&relay->n.not_found, 1);
        veil_http_problem(resp, 404, "not-found", "Not Found",
                          "POST to / or to /relay/<gateway index>");
        return;
    }
    if (strcmp(veil_http_req_method(req), "POST") != 0) {
        atomic_fetch_add(&relay->n.bad_method, 1);
        veil_http_problem(resp, 405, "method-not-allowed", "Method Not Allowed",
                          "the relay accepts only POST");
        veil_http_resp_header(resp, "Allow", "POST");
        return;
    }
    const char *ct = veil_http_req_header(req, "Content-Type");
    bool chunked = veil_http_content_type_is(ct, VEIL_OHTTP_MT_CHUNKED_REQUEST);
    if (!chunked && !veil_http_content_type_is(ct, VEIL_OHTTP_MT_REQUEST)) {
        atomic_fetch_add(&relay->n.bad_media_type, 1);
        veil_http_problem(resp, 415, "unsupported-media-type", "Unsupported Media Type",
                          "the relay forwards only message/ohttp-req and "
                          "message/ohttp-chunked-req");
        return;
    }
    struct exchange *ex = exchange_new(relay, relay->gateways[gw]);
    if (!ex) {
        veil_http_problem(resp, 503, "relay-busy", "Service Unavailable",
                          "the relay is out of resources; retry later");
        return;
    }
    veil_http_req_set_state(req, ex, exchange_free);
    ex->media_type = chunked ? VEIL_OHTTP_MT_CHUNKED_REQUEST : VEIL_OHTTP_MT_REQUEST;
    const char *inc = veil_http_req_header(req, "Incremental");
    ex->incremental = chunked && inc && !strcmp(inc, "?1");
    /* A chunked body is forwarded chunked, whatever Content-Length also said. */
    ex->has_length = !veil_http_req_header(req, "Transfer-Encoding") &&
                     parse_length(veil_http_req_header(req, "Content-Length"), &ex->length);
    if (pthread_create(&ex->thread, NULL, upstream_main, ex) != 0) {
        veil_http_problem(resp, 503, "relay-busy", "Service Unavailable",
                          "the relay is out of resources; retry later");
        return;
    }
    ex->thread_started = true;
    atomic_fetch_add(&relay->n.forwarded, 1);
    veil_http_req_stream_body(req, up_piece, ex);
}

static void fail_gateway(veil_relay *relay, veil_http_response *resp, bool timeout)
{
    if (timeout) {
        atomic_fetch_add(&relay->n.gateway_timeout, 1);
        veil_http_problem(resp, 504, "gateway-timeout", "Gateway Timeout",
                          "the gateway did not answer in time");
    } else {
        atomic_fetch_add(&relay->n.bad_gateway, 1);
        veil_http_problem(resp, 502, "bad-gateway", "Bad Gateway",
                          "the gateway could not be reached or gave an unacceptable response");
    }
}

/* The client's body is complete: wait for the gateway's head, then stream. */
static void handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    veil_relay *relay = ctx;
    struct exchange *ex = veil_http_req_state(req);
    if (!ex) { /* begin always answers or attaches an exchange */
        veil_http_problem(resp, 500, NULL, NULL, NULL);
        return;
    }
    int64_t deadline = mono_ms() + relay->timeout_ms;
    bool timed_out = false;
    pthread_mutex_lock(&ex->mu);
    ex->up_eof = true;
    pthread_cond_broadcast(&ex->cv);
    while (!stopped(ex) && !ex->head && !ex->done)
        if (!wait_slice(ex, deadline)) {
            timed_out = true;
            break;
        }
    bool ok = ex->head && ex->resp_type && ex->status >= 200 && ex->status <= 599 && !stopped(ex);
    if (!ok) {
        timed_out = timed_out || (!ex->head && ex->failure == VEIL_HTTP_FAIL_TIMEOUT);
        cancel_locked(ex);
    }
    unsigned status = (unsigned)ex->status;
    const char *type = ex->resp_type;
    pthread_mutex_unlock(&ex->mu);
    if (!ok) {
        fail_gateway(relay, resp, timed_out);
        return;
    }
    atomic_fetch_add(&relay->n.relayed, 1);
    veil_http_resp_stream(resp, status, type, down_read, ex);
}

static void on_abort(void *ctx)
{
    veil_relay *relay = ctx;
    atomic_store(&relay->hard_stop, true); /* every wait notices within a slice */
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void relay_free(veil_relay *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_gateways; i++)
        veil_free(r->gateways[i]);
    veil_free(r->gateways);
    veil_free(r->ca_file);
    if (r->rl_ready)
        veil_rl_free(&r->rl);
    veil_free(r);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = veil_calloc(n + 1, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

veil_result veil_relay_start(const veil_relay_config *cfg, veil_relay **out)
{
    veil_result res = VEIL_OK;
    veil_relay *r = NULL;

    VEIL_ENSURE(out, VEIL_E_USAGE, "relay: no output");
    *out = NULL;
    VEIL_ENSURE(cfg && cfg->gateways && cfg->n_gateways > 0, VEIL_E_USAGE,
                "the relay needs at least one gateway URL");
    VEIL_ENSURE(cfg->n_gateways <= VEIL_RELAY_MAX_GATEWAYS, VEIL_E_USAGE,
                "too many gateways (at most 64)");
    for (size_t i = 0; i < cfg->n_gateways; i++)
        VEIL_GUARD(veil_http_url_check(cfg->gateways[i]));
    r = veil_calloc(1, sizeof *r);
    VEIL_ENSURE(r, VEIL_E_NOMEM, "out of memory");
    r->gateways = veil_calloc(cfg->n_gateways, sizeof *r->gateways);
    VEIL_ENSURE_GOTO(res, r->gateways, VEIL_E_NOMEM, "out of memory");
    for (; r->n_gateways < cfg->n_gateways; r->n_gateways++) {
        r->gateways[r->n_gateways] = dup_str(cfg->gateways[r->n_gateways]);
        VEIL_ENSURE_GOTO(res, r->gateways[r->n_gateways], VEIL_E_NOMEM, "out of memory");
    }
    if (cfg->ca_file) {
        r->ca_file = dup_str(cfg->ca_file);
        VEIL_ENSURE_GOTO(res, r->ca_file, VEIL_E_NOMEM, "out of memory");
    }
    r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    atomic_init(&r->hard_stop, false);
    VEIL_TRY(res, veil_rl_init(&r->rl, cfg->rate, cfg->burst, RL_SETS));
    r->rl_ready = true;

    veil_http_server_config sc = {.address = cfg->address,
                                  .port = cfg->port,
                                  .max_connections = cfg->max_connections ? cfg->max_connections
                                                                          : DEFAULT_MAX_CONNECTIONS,
                                  .max_per_client = cfg->max_per_client,
                                  .timeout_s = r->timeout_ms / 1000 + 1,
                                  .max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY,
                                  .stop_grace_ms = cfg->stop_grace_ms,
                                  .begin = begin,
                                  .handler = handler,
                                  .on_abort = on_abort,
                                  .ctx = r};
    VEIL_TRY(res, veil_http_server_start(&sc, &r->srv));
    *out = r;
    r = NULL;
out:
    relay_free(r);
    return res;
}

uint16_t veil_relay_port(const veil_relay *r) { return r ? veil_http_server_port(r->srv) : 0; }

void veil_relay_counters_get(const veil_relay *r, veil_relay_counters *out)
{
    *out = (veil_relay_counters){
        .requests = atomic_load(&r->n.requests),
        .forwarded = atomic_load(&r->n.forwarded),
        .relayed = atomic_load(&r->n.relayed),
        .not_found = atomic_load(&r->n.not_found),
        .bad_method = atomic_load(&r->n.bad_method),
        .bad_media_type = atomic_load(&r->n.bad_media_type),
        .rate_limited = atomic_load(&r->n.rate_limited),
        .bad_gateway = atomic_load(&r->n.bad_gateway),
        .gateway_timeout = atomic_load(&r->n.gateway_timeout),
        .bytes_up = atomic_load(&r->n.bytes_up),
        .bytes_down = atomic_load(&r->n.bytes_down),
    };
}

void veil_relay_stop(veil_relay *r)
{
    if (!r)
        return;
    veil_http_server_stop(r->srv);
    relay_free(r);
}
