/* veil load: a load generator for the confidential path (issue 6, bar 7).
 *
 *   veil load --relay URL (--keys FILE | --gateway URL --policy FILE)
 *             [--requests N] [--connections C] [--model NAME | --get PATH]
 *             [--max-seconds S] [--watch-pid PID] [--warmup PCT] [--max-growth PCT]
 *             [--bad-inputs] [--direct URL] [--oversize BYTES] [--slow N]
 *             [--slow-wait S] [--json]
 *
 * Sends N Oblivious HTTP requests (message/ohttp-req) through the relay from
 * C connections at once, each a fresh encapsulation to the key configuration
 * (a file, e.g. `veil keygen`'s PREFIX.ohttp-keys or a saved GET /ohttp-keys,
 * or the one the gateway's attestation vouches for), and checks every
 * answer: outer 200 message/ohttp-res, decrypted and authenticated, inner
 * status 200. With --watch-pid it reads that process's resident memory
 * (VmRSS in /proc/PID/status) once PCT % of the requests are done (after
 * warm-up) and again at the end, both with the load paused and nothing in
 * flight, and fails when it grew by more than --max-growth %.
 *
 * --bad-inputs sends, while the load runs, malformed requests through the
 * relay (and straight to the gateway's POST URL given by --direct) and checks
 * each gets the right clear-text problem: truncated and garbage -> 400
 * .../ohttp-decapsulation; an unknown key id -> 422 ...#ohttp-key; a body
 * over the limit -> 413 .../body-too-large. --slow N opens N slow senders per
 * target that dribble a request slowly, then go quiet: each must be cut off
 * by the server's timeout (closed, or a 4xx answer) within --slow-wait
 * seconds, while the load is served. Exit: 0 all answers right, 1 a failure
 * or wrong answer or too much growth, 2 usage, 3 unreadable keys, 4 internal. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "veil/client.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/rand.h"

#define MAX_REQUESTS 10000000UL
#define MAX_CONNECTIONS 1024
#define MAX_SLOW 64
#define PROBLEM_OHTTP_KEY "https://iana.org/assignments/http-problem-types#ohttp-key"
#define PROMPT "Repeat after me: the load test is running."

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- shared state ---------------------------------------------------------------------- */

enum fail_class { F_TRANSPORT, F_STATUS, F_DECRYPT, F_INNER, F_COUNT };
static const char *const fail_names[F_COUNT] = {"transport", "outer_status", "decrypt",
                                                "inner_status"};

enum bad_kind { B_TRUNCATED, B_WRONG_KEY, B_GARBAGE, B_OVERSIZED, B_SLOW, B_COUNT };
static const char *const bad_names[B_COUNT] = {"truncated", "wrong_key_id", "garbage", "oversized",
                                               "slow_sender"};

typedef struct bad_stat {
    atomic_uint sent, right;
    char last_wrong[160]; /* what a wrong answer looked like (under mu) */
} bad_stat;

typedef struct load {
    /* configuration */
    const char *relay, *direct;
    veil_ohttp_keyconfig cfg;
    veil_hpke_suite suite;
    veil_buf inner; /* the encoded inner request */
    unsigned long n;
    unsigned conns;
    double max_s;
    size_t oversize;
    unsigned slow;
    double slow_wait;
    /* progress */
    atomic_ulong next, done, ok;
    unsigned long limit; /* workers stop at this index (the phase's end) */
    atomic_bool pause;   /* bad inputs hold off: a memory reading is due */
    atomic_ulong fails[F_COUNT];
    double *lat; /* per request, seconds; -1 when failed */
    atomic_bool stop;
    double t0;
    /* bad inputs: [target 0 relay, 1 direct][kind] */
    pthread_mutex_t mu;
    bad_stat bad[2][B_COUNT];
    char fail_example[160];
} load;

static void note(load *L, char *dst, size_t cap, const char *what)
{
    pthread_mutex_lock(&L->mu);
    if (!dst[0])
        snprintf(dst, cap, "%s", what);
    pthread_mutex_unlock(&L->mu);
}

/* ---- one good request --------------------------------------------------------------------- */

static int exchange(load *L, const veil_http_client_opts *o)
{
    veil_buf enc, plain;
    veil_ohttp_client_ctx *ctx = NULL;
    veil_bhttp_msg *m = NULL;
    veil_http_client_response out = {0};
    int cls = -1;
    veil_buf_init(&enc, 0);
    veil_buf_init(&plain, 0);
    if (!veil_ok(
            veil_ohttp_client_encap(&L->cfg, &L->suite, L->inner.data, L->inner.len, &enc, &ctx))) {
        cls = F_DECRYPT;
        goto out;
    }
    veil_result r = veil_http_post(L->relay, VEIL_OHTTP_MT_REQUEST, enc.data, enc.len, o, &out);
    if (!veil_ok(r)) {
        cls = F_TRANSPORT;
        char why[160];
        snprintf(why, sizeof why, "transport: %s", veil_http_failure_name(out.failure));
        note(L, L->fail_example, sizeof L->fail_example, why);
    } else if (out.status != 200 ||
               !veil_http_content_type_is(out.content_type, VEIL_OHTTP_MT_RESPONSE)) {
        cls = F_STATUS;
        char why[160];
        snprintf(why, sizeof why, "outer status %ld (%.60s)", out.status, out.content_type);
        note(L, L->fail_example, sizeof L->fail_example, why);
    } else if (!veil_ok(veil_ohttp_client_decap(ctx, out.body.data, out.body.len, &plain)) ||
               !veil_ok(veil_bhttp_decode(plain.data, plain.len, NULL, &m))) {
        cls = F_DECRYPT;
    } else if (veil_bhttp_status(m) != 200) {
        cls = F_INNER;
        char why[160];
        snprintf(why, sizeof why, "inner status %u", veil_bhttp_status(m));
        note(L, L->fail_example, sizeof L->fail_example, why);
    }
out:
    veil_bhttp_msg_free(m);
    veil_ohttp_client_ctx_free(ctx);
    veil_http_client_response_free(&out);
    veil_buf_free(&enc);
    veil_buf_free(&plain);
    return cls;
}

static void *worker(void *arg)
{
    load *L = arg;
    veil_http_client_opts o = {.timeout_ms = 60000};
    for (;;) {
        unsigned long i = atomic_fetch_add(&L->next, 1);
        if (i >= L->limit || atomic_load(&L->stop))
            break;
        double t0 = now_s();
        int cls = exchange(L, &o);
        L->lat[i] = cls < 0 ? now_s() - t0 : -1;
        if (cls < 0)
            atomic_fetch_add(&L->ok, 1);
        else
            atomic_fetch_add(&L->fails[cls], 1);
        atomic_fetch_add(&L->done, 1);
    }
    return NULL;
}

/* ---- bad inputs ------------------------------------------------------------------------- */

/* The "type" member of a problem+json body, or "" */
static void problem_type(const veil_buf *body, char *out, size_t cap)
{
    json_t *doc = json_loadb((const char *)body->data, body->len, 0, NULL);
    const char *t = json_string_value(json_object_get(doc, "type"));
    snprintf(out, cap, "%s", t ? t : "");
    json_decref(doc);
}

/* POST one bad body and compare the answer with (status, problem type). */
static void bad_post(load *L, int target, int kind, const uint8_t *p, size_t n, long want,
                     const char *want_type)
{
    veil_http_client_opts o = {.timeout_ms = 30000};
    veil_http_client_response out = {0};
    char type[200] = "";
    bad_stat *b = &L->bad[target][kind];
    const char *url = target ? L->direct : L->relay;
    /* An oversized body asks first (RFC 9110 §10.1.1): a server that refuses
     * it early and closes may otherwise reset the connection before the
     * client reads the 413, which is TCP, not the server, failing. */
    static const veil_http_header expect = {"Expect", "100-continue"};
    veil_http_client_request req = {.method = "POST",
                                    .url = url,
                                    .content_type = VEIL_OHTTP_MT_REQUEST,
                                    .headers = kind == B_OVERSIZED ? &expect : NULL,
                                    .n_headers = kind == B_OVERSIZED ? 1 : 0,
                                    .body = p,
                                    .body_len = n};
    atomic_fetch_add(&b->sent, 1);
    veil_result r = veil_http_fetch(&req, &o, &out);
    if (veil_ok(r) && veil_http_content_type_is(out.content_type, VEIL_HTTP_MT_PROBLEM))
        problem_type(&out.body, type, sizeof type);
    if (veil_ok(r) && out.status == want && !strcmp(type, want_type)) {
        atomic_fetch_add(&b->right, 1);
    } else {
        char got[160];
        snprintf(got, sizeof got, "%s %ld %.100s", veil_ok(r) ? "status" : "transport failure",
                 out.status, type);
        note(L, b->last_wrong, sizeof b->last_wrong, got);
    }
    veil_http_client_response_free(&out);
}

/* One round of every kind against one target. */
static void bad_round(load *L, int target)
{
    veil_buf enc;
    veil_ohttp_client_ctx *ctx = NULL;
    uint8_t junk[300];
    veil_buf_init(&enc, 0);
    if (!veil_ok(
            veil_ohttp_client_encap(&L->cfg, &L->suite, L->inner.data, L->inner.len, &enc, &ctx)) ||
        enc.len < 40 || !veil_ok(veil_random_bytes(junk, sizeof junk)))
        goto out;
    const char *decap = VEIL_HTTP_PROBLEM_BASE "ohttp-decapsulation";
    /* truncated: a real request missing its last 16 bytes (the AEAD tag) */
    bad_post(L, target, B_TRUNCATED, enc.data, enc.len - 16, 400, decap);
    /* garbage: the right key id and suite (7 bytes), then random bytes */
    memcpy(junk, enc.data, 7);
    bad_post(L, target, B_GARBAGE, junk, sizeof junk, 400, decap);
    /* an unknown key id */
    enc.data[0] ^= 0x5a;
    bad_post(L, target, B_WRONG_KEY, enc.data, enc.len, 422, PROBLEM_OHTTP_KEY);
    /* a body over the limit */
    if (L->oversize) {
        uint8_t *big = veil_calloc(L->oversize, 1);
        if (big) {
            memcpy(big, enc.data, enc.len);
            bad_post(L, target, B_OVERSIZED, big, L->oversize, 413,
                     VEIL_HTTP_PROBLEM_BASE "body-too-large");
            veil_free(big);
        }
    }
out:
    veil_ohttp_client_ctx_free(ctx);
    veil_buf_free(&enc);
}

static void *bad_main(void *arg)
{
    load *L = arg;
    /* bounded: until the load is over, at most 10 000 rounds */
    for (int i = 0; i < 10000 && !atomic_load(&L->stop) && atomic_load(&L->done) < L->n; i++) {
        if (atomic_load(&L->pause)) {
            sleep_ms(50);
            continue;
        }
        bad_round(L, 0);
        if (L->direct)
            bad_round(L, 1);
        sleep_ms(250);
    }
    return NULL;
}

/* ---- slow senders ------------------------------------------------------------------------ */

typedef struct slow {
    load *L;
    int target;
    bool in_head; /* dribble the header block (classic slowloris) or the body */
    pthread_t th;
} slow;

static int connect_url(const char *url, char *path, size_t cap)
{
    char host[256] = "", port[8] = "80";
    const char *p = strncmp(url, "http://", 7) ? NULL : url + 7;
    if (!p)
        return -1;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, p, hl);
    p += hl;
    if (*p == ':') {
        size_t pl = strcspn(p + 1, "/");
        if (pl == 0 || pl >= sizeof port)
            return -1;
        memcpy(port, p + 1, pl);
        port[pl] = '\0';
        p += 1 + pl;
    }
    snprintf(path, cap, "%s", *p ? p : "/");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Dribble a request a byte at a time for ~2 s, then go quiet and wait for
 * the server to end it: closed (or reset) with no answer, or a 4xx answer. */
static void *slow_main(void *arg)
{
    slow *s = arg;
    load *L = s->L;
    bad_stat *b = &L->bad[s->target][B_SLOW];
    char path[512], req[1024], why[160] = "";
    int fd = connect_url(s->target ? L->direct : L->relay, path, sizeof path);
    atomic_fetch_add(&b->sent, 1);
    if (fd < 0) {
        note(L, b->last_wrong, sizeof b->last_wrong, "could not connect");
        return NULL;
    }
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: load\r\nContent-Type: %s\r\n"
                     "Content-Length: 4096\r\n\r\n",
                     path, VEIL_OHTTP_MT_REQUEST);
    size_t head = (size_t)n, off = s->in_head ? 0 : head;
    if (!s->in_head && send(fd, req, head, MSG_NOSIGNAL) != (ssize_t)head)
        snprintf(why, sizeof why, "the head could not be sent");
    /* 8 bytes, 250 ms apart: in the head (never completing it) or the body */
    for (int i = 0; i < 8 && !why[0]; i++, off++) {
        char c = s->in_head ? req[off % (head - 4)] : 'x';
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1)
            break; /* already cut off: fine */
        sleep_ms(250);
    }
    double quiet = now_s();
    char buf[512];
    ssize_t got = 0;
    /* bounded by --slow-wait */
    while (!why[0] && now_s() - quiet < L->slow_wait) {
        got = recv(fd, buf, sizeof buf - 1, 0);
        if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
    }
    if (!why[0] && got > 0) {
        buf[got] = '\0';
        int status = 0;
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 400 || status > 499)
            snprintf(why, sizeof why, "answered %.40s", buf);
    } else if (!why[0] && got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        snprintf(why, sizeof why, "still open %.0f s after going quiet", L->slow_wait);
    }
    close(fd);
    if (why[0])
        note(L, b->last_wrong, sizeof b->last_wrong, why);
    else
        atomic_fetch_add(&b->right, 1);
    return NULL;
}

/* ---- memory of the watched process ------------------------------------------------------ */

static long rss_kib(long pid)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- phases ----------------------------------------------------------------------------- */

typedef struct summary {
    double secs, p50, p99, pmax;
    unsigned long ok, failed;
    long pid, rss_warm, rss_end, rss_peak;
    double growth;
    bool growth_ok, bad_ok;
} summary;

static void progress(const load *L, unsigned long done, double t)
{
    int w = 30, k = (int)(w * (double)done / (double)L->n);
    fprintf(stderr, "\r[%.*s%*s] %lu/%lu  %.0f/s  failed %lu ", k, "##############################",
            w - k, "", done, L->n, t > 0 ? done / t : 0, done - (unsigned long)atomic_load(&L->ok));
}

/* Requests [from, to) from L->conns workers; the progress bar and the peak
 * memory meanwhile. Bounded by --max-seconds (then it stops; requests in
 * flight end within their own timeout). 0 when every request was made. */
static int phase(load *L, unsigned long from, unsigned long to, pthread_t *th, bool tty, summary *s)
{
    unsigned started = 0;
    if (from >= to || atomic_load(&L->stop))
        return from >= to ? 0 : -1;
    atomic_store(&L->next, from);
    L->limit = to;
    for (; started < L->conns; started++)
        if (pthread_create(&th[started], NULL, worker, L) != 0)
            break;
    for (;;) { /* bounded: max_s, plus 120 s for requests in flight */
        unsigned long done = atomic_load(&L->done);
        double t = now_s() - L->t0;
        long v = s->pid ? rss_kib(s->pid) : 0;
        s->rss_peak = v > s->rss_peak ? v : s->rss_peak;
        if (tty)
            progress(L, done, t);
        if (done >= to || started == 0 || t > L->max_s + 120)
            break;
        if (t > L->max_s)
            atomic_store(&L->stop, true);
        sleep_ms(100);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&L->done) >= to ? 0 : -1;
}

/* VmRSS with nothing in flight: bad inputs held off, a second for the
 * servers' connection threads to end. */
static long rss_quiet(load *L, long pid)
{
    atomic_store(&L->pause, true);
    sleep_ms(1000);
    long v = rss_kib(pid);
    atomic_store(&L->pause, false);
    return v;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int keys_from_file(const char *path, load *L)
{
    size_t len = 0, n = 0, skipped = 0, idx = 0;
    veil_ohttp_keyconfig cfgs[16];
    char *text = cli_read_file(path, &len, 1 << 20);
    if (!text)
        return VEIL_EXIT_INPUT;
    veil_result r = veil_ohttp_keys_decode((const uint8_t *)text, len, cfgs, 16, &n, &skipped);
    if (veil_ok(r))
        r = veil_ohttp_select(cfgs, n, &idx, &L->suite);
    veil_free_wiped(text, len);
    if (!veil_ok(r)) {
        fprintf(stderr, "veil load: %s: not a usable application/ohttp-keys file: %s\n", path,
                r.msg);
        return VEIL_EXIT_INPUT;
    }
    L->cfg = cfgs[idx];
    return 0;
}

/* The key configuration the gateway's attestation vouches for. */
static int keys_attested(const char *gateway, const char *relay, const char *policy, load *L)
{
    veil_client *c = NULL;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    veil_client_audit a;
    veil_ohttp_keyconfig cfgs[16];
    size_t n = 0, skipped = 0, idx = 0;
    if (!rep)
        return VEIL_EXIT_INTERNAL;
    int rc = cli_client_open(gateway, relay, policy, 1, &c, rep);
    veil_free(rep);
    if (rc)
        return rc;
    veil_result r = veil_client_audit_get(c, &a);
    if (veil_ok(r))
        r = veil_ohttp_keys_decode(a.keys, a.keys_len, cfgs, 16, &n, &skipped);
    if (veil_ok(r))
        r = veil_ohttp_select(cfgs, n, &idx, &L->suite);
    if (veil_ok(r))
        L->cfg = cfgs[idx];
    veil_client_free(c);
    if (!veil_ok(r)) {
        cli_error("load: attested keys", r);
        return cli_exit_for(r);
    }
    return 0;
}

static veil_result build_inner(const char *model, const char *get_path, veil_buf *out)
{
    veil_result r = VEIL_OK;
    veil_bhttp_msg *m = NULL;
    char body[1024];
    if (get_path) {
        VEIL_TRY(r, veil_bhttp_request_new("GET", "https", "gateway", get_path, &m));
    } else {
        json_t *doc = json_pack("{s:s,s:[{s:s,s:s}]}", "model", model, "messages", "role", "user",
                                "content", PROMPT);
        size_t n = doc ? json_dumpb(doc, body, sizeof body, JSON_COMPACT) : 0;
        json_decref(doc);
        VEIL_ENSURE_GOTO(r, n > 0 && n <= sizeof body, VEIL_E_USAGE, "load: model name too long");
        VEIL_TRY(r, veil_bhttp_request_new("POST", "https", "gateway", "/v1/chat/completions", &m));
        VEIL_TRY(r, veil_bhttp_add_header(m, "content-type", 12, "application/json", 16));
        VEIL_TRY(r, veil_bhttp_set_content(m, body, n));
    }
    VEIL_TRY(r, veil_bhttp_encode(m, VEIL_BHTTP_KNOWN_LENGTH, out));
out:
    veil_bhttp_msg_free(m);
    return r;
}

/* ---- report ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latencies(load *L, unsigned long done, summary *s)
{
    unsigned long k = 0;
    for (unsigned long i = 0; i < done && i < L->n; i++)
        if (L->lat[i] >= 0)
            L->lat[k++] = L->lat[i];
    qsort(L->lat, k, sizeof *L->lat, cmp_double);
    s->p50 = k ? L->lat[k / 2] * 1e3 : 0;
    s->p99 = k ? L->lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] * 1e3 : 0;
    s->pmax = k ? L->lat[k - 1] * 1e3 : 0;
}

static void print_json(load *L, const summary *s, bool bad)
{
    json_t *fails = json_object(), *doc = json_object(), *b = json_array();
    for (int i = 0; i < F_COUNT; i++)
        json_object_set_new(fails, fail_names[i], json_integer((json_int_t)L->fails[i]));
    for (int t = 0; bad && t < 2; t++)
        for (int k = 0; k < B_COUNT && (t == 0 || L->direct); k++)
            json_array_append_new(
                b, json_pack("{s:s,s:s,s:i,s:i,s:s}", "kind", bad_names[k], "target",
                             t ? "gateway" : "relay", "sent", (int)L->bad[t][k].sent, "right",
                             (int)L->bad[t][k].right, "wrong_example", L->bad[t][k].last_wrong));
    json_object_set_new(doc, "requests", json_integer((json_int_t)L->n));
    json_object_set_new(doc, "connections", json_integer(L->conns));
    json_object_set_new(doc, "ok", json_integer((json_int_t)s->ok));
    json_object_set_new(doc, "failed", json_integer((json_int_t)s->failed));
    json_object_set_new(doc, "failures", fails);
    json_object_set_new(doc, "failure_example", json_string(L->fail_example));
    json_object_set_new(doc, "seconds", json_real(s->secs));
    json_object_set_new(doc, "requests_per_second", json_real(s->secs > 0 ? s->ok / s->secs : 0));
    json_object_set_new(doc, "latency_ms",
                        json_pack("{s:f,s:f,s:f}", "p50", s->p50, "p99", s->p99, "max", s->pmax));
    if (s->pid)
        json_object_set_new(doc, "memory",
                            json_pack("{s:i,s:i,s:i,s:i,s:f,s:b}", "pid", (int)s->pid,
                                      "rss_warm_kib", (int)s->rss_warm, "rss_end_kib",
                                      (int)s->rss_end, "rss_peak_kib", (int)s->rss_peak,
                                      "growth_pct", s->growth, "within_limit", s->growth_ok));
    if (bad) {
        json_object_set_new(doc, "bad_inputs", b);
        json_object_set_new(doc, "bad_inputs_ok", json_boolean(s->bad_ok));
    } else {
        json_decref(b);
    }
    json_dumpf(doc, stdout, JSON_COMPACT);
    printf("\n");
    json_decref(doc);
}

static void print_text(load *L, const summary *s, bool bad)
{
    printf("veil load: %lu requests, %u connections, %.1f s: %lu ok, %lu failed (%.0f/s)\n", L->n,
           L->conns, s->secs, s->ok, s->failed, s->secs > 0 ? s->ok / s->secs : 0);
    printf("  latency ms: p50 %.1f, p99 %.1f, max %.1f\n", s->p50, s->p99, s->pmax);
    if (s->failed)
        printf("  failures: transport %lu, outer status %lu, decrypt %lu, inner status %lu (%s)\n",
               (unsigned long)L->fails[F_TRANSPORT], (unsigned long)L->fails[F_STATUS],
               (unsigned long)L->fails[F_DECRYPT], (unsigned long)L->fails[F_INNER],
               L->fail_example);
    if (s->pid)
        printf("  pid %ld RSS: %ld KiB after warm-up, %ld KiB at the end (peak %ld): %+.2f %% %s\n",
               s->pid, s->rss_warm, s->rss_end, s->rss_peak, s->growth,
               s->growth_ok ? "ok" : "OVER THE LIMIT");
    for (int t = 0; bad && t < 2; t++)
        for (int k = 0; k < B_COUNT && (t == 0 || L->direct); k++)
            printf("  bad input %-12s via %-7s: %u/%u right%s%s\n", bad_names[k],
                   t ? "gateway" : "relay", (unsigned)L->bad[t][k].sent,
                   (unsigned)L->bad[t][k].right, L->bad[t][k].last_wrong[0] ? "; wrong: " : "",
                   L->bad[t][k].last_wrong);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil load --relay URL (--keys FILE | --gateway URL --policy FILE)\n"
            "                 [--requests N] [--connections C] [--model NAME | --get PATH]\n"
            "                 [--max-seconds S] [--watch-pid PID] [--warmup PCT]\n"
            "                 [--max-growth PCT] [--bad-inputs] [--direct URL]\n"
            "                 [--oversize BYTES] [--slow N] [--slow-wait S] [--json]\n"
            "\n"
            "TEST TOOL: drives N OHTTP requests from C connections through a relay and checks\n"
            "every answer; optionally watches a process's memory and sends bad inputs.\n"
            "\n"
            "  --relay URL        where requests are POSTed (the relay)\n"
            "  --keys FILE        application/ohttp-keys to encapsulate to, or\n"
            "  --gateway URL --policy FILE   the configuration the gateway's attestation\n"
            "                     vouches for, verified against the policy\n"
            "  --requests N       default 1000; --connections C: default 16\n"
            "  --model NAME       chat completion for this model (default veil-echo-1k);\n"
            "  --get PATH         or a GET of PATH (e.g. /v1/models)\n"
            "  --max-seconds S    stop starting requests after S (default 600)\n"
            "  --watch-pid PID    read PID's VmRSS after --warmup PCT %% of the requests\n"
            "                     (default 10) and at the end; --max-growth PCT: fail above\n"
            "                     (default 5)\n"
            "  --bad-inputs       while loading, send truncated, wrong-key-id, garbage and\n"
            "                     oversized (--oversize BYTES, default 16 MiB + 1) requests and\n"
            "                     check their problem answers; also to --direct URL (the\n"
            "                     gateway's POST /gateway URL), when given\n"
            "  --slow N           N slow senders per target (default 2 with --bad-inputs);\n"
            "                     each must be cut off within --slow-wait S (default 90)\n"
            "  --json             one JSON summary on stdout\n"
            "Exit: 0 all right, 1 failures or wrong answers or memory growth, 2 usage,\n"
            "3 unreadable keys, 4 internal error.\n");
    return code;
}

static bool parse_num(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

typedef struct opts {
    const char *relay, *keys, *gateway, *policy, *model, *get, *direct;
    double n, conns, max_s, pid, warmup, max_growth, oversize, slow, slow_wait;
    bool bad, json;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {{"relay", required_argument, NULL, 'r'},
                                       {"keys", required_argument, NULL, 'k'},
                                       {"gateway", required_argument, NULL, 'g'},
                                       {"policy", required_argument, NULL, 'p'},
                                       {"requests", required_argument, NULL, 'n'},
                                       {"connections", required_argument, NULL, 'c'},
                                       {"model", required_argument, NULL, 'm'},
                                       {"get", required_argument, NULL, 'G'},
                                       {"max-seconds", required_argument, NULL, 's'},
                                       {"watch-pid", required_argument, NULL, 'w'},
                                       {"warmup", required_argument, NULL, 'W'},
                                       {"max-growth", required_argument, NULL, 'M'},
                                       {"bad-inputs", no_argument, NULL, 'b'},
                                       {"direct", required_argument, NULL, 'd'},
                                       {"oversize", required_argument, NULL, 'o'},
                                       {"slow", required_argument, NULL, 'S'},
                                       {"slow-wait", required_argument, NULL, 'T'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    bool okv = true;
    *o = (opts){.model = "veil-echo-1k",
                .n = 1000,
                .conns = 16,
                .max_s = 600,
                .warmup = 10,
                .max_growth = 5,
                .oversize = (16 << 20) + 1,
                .slow = -1,
                .slow_wait = 90};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'r': o->relay = optarg; break;
        case 'k': o->keys = optarg; break;
        case 'g': o->gateway = optarg; break;
        case 'p': o->policy = optarg; break;
        case 'm': o->model = optarg; break;
        case 'G': o->get = optarg; break;
        case 'd': o->direct = optarg; break;
        case 'n': okv = okv && parse_num(optarg, 1, MAX_REQUESTS, &o->n); break;
        case 'c': okv = okv && parse_num(optarg, 1, MAX_CONNECTIONS, &o->conns); break;
        case 's': okv = okv && parse_num(optarg, 1, 86400, &o->max_s); break;
        case 'w': okv = okv && parse_num(optarg, 1, 1 << 30, &o->pid); break;
        case 'W': okv = okv && parse_num(optarg, 1, 90, &o->warmup); break;
        case 'M': okv = okv && parse_num(optarg, 0, 1000, &o->max_growth); break;
        case 'o': okv = okv && parse_num(optarg, 0, 1 << 30, &o->oversize); break;
        case 'S': okv = okv && parse_num(optarg, 0, MAX_SLOW, &o->slow); break;
        case 'T': okv = okv && parse_num(optarg, 1, 3600, &o->slow_wait); break;
        case 'b': o->bad = true; break;
        case 'j': o->json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK) + 100;
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!okv || optind != argc || !o->relay || (!o->keys == !(o->gateway && o->policy)) ||
        (o->get && o->get[0] != '/') || !veil_ok(veil_http_url_check(o->relay)) ||
        (o->direct && !veil_ok(veil_http_url_check(o->direct)))) {
        fprintf(stderr, "veil load: need --relay URL and either --keys FILE or --gateway URL "
                        "with --policy FILE (numbers in range, URLs http(s)://)\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (o->slow < 0)
        o->slow = o->bad ? 2 : 0;
    return 0;
}

int cmd_load(int argc, char **argv)
{
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc >= 100 ? rc - 100 : rc;
    signal(SIGPIPE, SIG_IGN);
    load *L = veil_calloc(1, sizeof *L);
    if (!L)
        return VEIL_EXIT_INTERNAL;
    pthread_mutex_init(&L->mu, NULL);
    L->relay = o.relay;
    L->direct = o.direct;
    L->n = (unsigned long)o.n;
    L->conns = (unsigned)o.conns;
    L->max_s = o.max_s;
    L->oversize = (size_t)o.oversize;
    L->slow = (unsigned)o.slow;
    L->slow_wait = o.slow_wait;
    veil_buf_init(&L->inner, 0);
    L->lat = veil_calloc(L->n, sizeof *L->lat);
    pthread_t *th = veil_calloc(L->conns, sizeof *th);
    slow *sl = veil_calloc(2 * MAX_SLOW, sizeof *sl);
    rc = VEIL_EXIT_INTERNAL;
    if (!L->lat || !th || !sl)
        goto out;
    rc = o.keys ? keys_from_file(o.keys, L) : keys_attested(o.gateway, o.relay, o.policy, L);
    if (rc)
        goto out;
    rc = VEIL_EXIT_INTERNAL;
    veil_result r = build_inner(o.model, o.get, &L->inner);
    if (!veil_ok(r)) {
        cli_error("load: request", r);
        goto out;
    }

    /* slow senders first, so that the whole load is served around them */
    unsigned n_slow = 0;
    pthread_t bad_th;
    bool bad_started = false;
    for (int t = 0; t < 2; t++)
        for (unsigned i = 0; i < L->slow && (t == 0 || L->direct); i++) {
            sl[n_slow] = (slow){L, t, i % 2 == 0, 0};
            if (pthread_create(&sl[n_slow].th, NULL, slow_main, &sl[n_slow]) == 0)
                n_slow++;
        }
    L->t0 = now_s();
    if (o.bad)
        bad_started = pthread_create(&bad_th, NULL, bad_main, L) == 0;
    summary s = {.pid = (long)o.pid, .rss_warm = -1, .rss_end = -1};
    unsigned long warm_at = s.pid ? (unsigned long)((double)L->n * o.warmup / 100.0) : 0;
    bool tty = isatty(2) && !o.json;
    /* Two phases, warm-up and the rest; after each the load pauses, so that
     * both memory readings see no request in flight: what they compare is
     * what the process keeps, not what happened to be in flight. */
    if (warm_at && phase(L, 0, warm_at, th, tty, &s) == 0 && s.pid)
        s.rss_warm = rss_quiet(L, s.pid);
    (void)phase(L, warm_at, L->n, th, tty, &s);
    s.secs = now_s() - L->t0;
    atomic_store(&L->stop, true);
    if (bad_started)
        pthread_join(bad_th, NULL);
    if (s.pid)
        s.rss_end = rss_quiet(L, s.pid);
    for (unsigned i = 0; i < n_slow; i++)
        pthread_join(sl[i].th, NULL);
    if (tty)
        fprintf(stderr, "\n");

    s.ok = atomic_load(&L->ok);
    s.failed = atomic_load(&L->done) - s.ok + (L->n - atomic_load(&L->done));
    latencies(L, atomic_load(&L->done), &s);
    s.growth = s.rss_warm > 0 && s.rss_end > 0
                   ? 100.0 * (double)(s.rss_end - s.rss_warm) / (double)s.rss_warm
                   : 0;
    s.growth_ok = !s.pid || (s.rss_warm > 0 && s.rss_end > 0 && s.growth <= o.max_growth);
    s.bad_ok = true;
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < B_COUNT; k++) {
            bool used = (t == 0 || L->direct) && (k == B_SLOW ? L->slow > 0 : o.bad);
            if (k == B_OVERSIZED && !L->oversize)
                used = false;
            if (used && (L->bad[t][k].sent == 0 || L->bad[t][k].right != L->bad[t][k].sent))
                s.bad_ok = false;
        }
    bool bad_shown = o.bad || L->slow > 0;
    if (o.json)
        print_json(L, &s, bad_shown);
    else
        print_text(L, &s, bad_shown);
    rc = s.failed == 0 && s.growth_ok && s.bad_ok ? VEIL_EXIT_OK : VEIL_EXIT_FAILED;
out:
    veil_buf_free(&L->inner);
    veil_free(L->lat);
    veil_free(th);
    veil_free(sl);
    pthread_mutex_destroy(&L->mu);
    veil_free(L);
    return rc;
}
