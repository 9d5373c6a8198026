/* Gateway benchmark (issue 6, bar 6): what the confidential path costs.
 *
 * (a) Transcription: the 7-second LibriVox sample through the verifying
 *     client -> relay -> gateway -> pocketsphinx and back, all in this process
 *     on loopback (the gateway attested by an in-process simulated TEE, the
 *     client verifying it once before timing), beside pocketsphinx decoding
 *     the same samples in-process with its model already loaded. One warm-up
 *     exchange, then the two sides alternate run by run; median and best of
 *     each; the texts must agree. Target: confidential / direct <= 1.05.
 *
 * (b) Throughput of a 1 KiB echo application at C concurrent connections
 *     (default 64) against one gateway: OHTTP requests/s (POST /gateway),
 *     the same gateway's plain requests/s for the same inner request (its
 *     benchmark-only POST /bench/plain-bhttp, same handler, slots, limits and
 *     listener), and the bare crypto rate (veil_ohttp_server_decap +
 *     veil_ohttp_server_encap alone, on as many threads as there are online
 *     CPUs, which is all the server can use). The client's own work is taken
 *     out of the OHTTP side: every request is encapsulated before timing and
 *     every response decrypted and checked after it (a mismatch fails the
 *     run). Each rate is counted over a window in which all C connections are
 *     busy. Rounds alternate plain, OHTTP, crypto; the best of each is kept.
 *     Target: OHTTP / (1 / (1/plain + 1/crypto)) >= 0.8.
 *
 * usage: gateway [--runs N] [--max-seconds S] [--file WAV] [--conns C]
 *                [--crypto-threads T] [--seconds S] [--rounds N] [--only stt|rate]
 *                [--json] [--check]
 *   --check exits 1 when a target is missed: (a) on the paired ratio (the
 *   median over runs of each run's confidential / direct, the two halves of a
 *   run back to back, so load landing on a whole run cancels; on a shared
 *   2-core machine single medians swung 0.92-1.17 while the path itself cost
 *   4 ms of 4 s); (b) on process CPU time (CPU per plain request + per crypto
 *   operation, over CPU per OHTTP request), which tracks the wall clock on an
 *   idle machine and is not skewed by other processes' load on a shared one.
 *   Wall-clock figures are printed beside. Every loop is bounded by a count
 *   and by time. */
#include <pocketsphinx.h>
#include <pthread.h>
#include <signal.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "veil/app.h"
#include "veil/attester.h"
#include "veil/bhttp.h"
#include "veil/client.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/measure.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/relay.h"

#define DEFAULT_FILE                                                                               \
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
#define MAX_RUNS 100
#define MAX_CONNS 512
#define MAX_ROUNDS 20
#define ECHO_LEN 1024
#define PER_CONN_MAX 2000 /* requests prepared per connection and round */
#define STT_TARGET 1.05
#define RATE_TARGET 0.8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the whole process: client, relay, gateway and engine all run
 * here, so this counts all their work and none of the time the scheduler
 * gives other processes on a busy machine. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, veil_result r)
{
    fprintf(stderr, "gateway bench: %s: %s\n", what, r.msg ? r.msg : "failed");
    exit(4);
}

#define CHECK(what, expr)                                                                          \
    do {                                                                                           \
        veil_result r_ = (expr);                                                                   \
        if (!veil_ok(r_))                                                                          \
            die(what, r_);                                                                         \
    } while (0)

/* ---- an in-process simulated TEE (as tests/unit/gateway_test.c) ----------------------- */

typedef struct simtee {
    char dir[64];
    char sock[160];
    veil_sim_state st;
    veil_sim_guest g;
    veil_sim_server *srv;
    pthread_t th;
    atomic_bool stop;
    veil_attester *att;
    char policy[512];
} simtee;

static void *sim_thread(void *arg)
{
    simtee *s = arg;
    for (int i = 0; i < 3000000 && !atomic_load(&s->stop); i++) /* bounded: hours at most */
        if (!veil_ok(veil_sim_server_poll(s->srv, 20)))
            sleep_ms(20);
    return NULL;
}

static void sim_start(simtee *s)
{
    static const char image[] = "veil gateway (bench/gateway.c)";
    bool created = false;
    char stdir[96], mhex[97], ark[65];
    veil_sim_image img = {"veil", (const uint8_t *)image, sizeof image};
    snprintf(s->dir, sizeof s->dir, "/tmp/veil-bench-gw-XXXXXX");
    if (!mkdtemp(s->dir))
        die("mkdtemp", VEIL_ERR(VEIL_E_INTERNAL, "no temporary directory"));
    snprintf(stdir, sizeof stdir, "%s/sim", s->dir);
    snprintf(s->sock, sizeof s->sock, "%s/guest.sock", s->dir);
    veil_sim_state_init(&s->st);
    CHECK("simulator state", veil_sim_state_create(stdir, &created, &s->st));
    CHECK("simulated guest", veil_sim_guest_init(&s->g));
    CHECK("measurement", veil_sim_measure(&img, 1, s->g.measurement));
    CHECK("simulator socket", veil_sim_server_open(&s->st, &s->g, s->sock, &s->srv));
    veil_sim_server_set_guest(s->srv, getpid()); /* this process is the guest */
    atomic_init(&s->stop, false);
    if (pthread_create(&s->th, NULL, sim_thread, s) != 0)
        die("simulator thread", VEIL_ERR(VEIL_E_INTERNAL, "pthread_create"));
    CHECK("attester", veil_attester_open("sim", s->sock, &s->att));
    veil_hex_encode(s->g.measurement, 48, mhex);
    veil_hex_encode(s->st.ark_sha256, 32, ark);
    snprintf(s->policy, sizeof s->policy,
             "{\"trusted_simulated_roots\":[\"%s\"],\"measurements\":[\"%s\"]}", ark, mhex);
}

static void sim_stop(simtee *s)
{
    char cmd[128];
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    veil_attester_free(s->att);
    veil_sim_server_free(s->srv);
    veil_sim_state_free(&s->st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "gateway bench: could not remove %s\n", s->dir);
}

/* ---- in-process stack ------------------------------------------------------------------ */

typedef struct stack {
    veil_gateway *gw;
    veil_relay *relay;
    char gw_url[64], gw_post[80], relay_url[64];
} stack;

static void stack_start(stack *st, veil_ohttp_gateway *keys, veil_attester *att,
                        veil_gateway_handler_fn h, void *ctx, unsigned conns, bool with_relay)
{
    veil_gateway_config gc = {.keys = keys,
                              .attester = att,
                              .attestation_header = att != NULL,
                              .handler = h,
                              .handler_ctx = ctx,
                              .max_concurrent = conns,
                              /* (b) compares against the plain endpoint */
                              .bench_plain_endpoint = !with_relay};
    CHECK("gateway start", veil_gateway_start(&gc, &st->gw));
    snprintf(st->gw_url, sizeof st->gw_url, "http://127.0.0.1:%u", veil_gateway_port(st->gw));
    snprintf(st->gw_post, sizeof st->gw_post, "%s%s", st->gw_url, VEIL_GATEWAY_PATH);
    if (!with_relay)
        return;
    const char *gws[] = {st->gw_post};
    veil_relay_config rc = {.gateways = gws, .n_gateways = 1, .max_connections = 4 * conns + 16};
    CHECK("relay start", veil_relay_start(&rc, &st->relay));
    snprintf(st->relay_url, sizeof st->relay_url, "http://127.0.0.1:%u/",
             veil_relay_port(st->relay));
}

static void stack_stop(stack *st)
{
    veil_relay_stop(st->relay);
    veil_gateway_stop(st->gw);
}

/* ---- (a) transcription ---------------------------------------------------------------- */

typedef struct audio {
    uint8_t *wav;
    size_t wav_len;
    int16_t *samples;
    size_t n;
} audio;

static int audio_load(const char *path, audio *a)
{
    FILE *f = fopen(path, "rb");
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!f || !sf || info.samplerate != 16000 || info.channels != 1) {
        fprintf(stderr, "gateway bench: %s is not a readable 16 kHz mono WAV\n", path);
        if (f)
            fclose(f);
        if (sf)
            sf_close(sf);
        return 3;
    }
    a->n = (size_t)info.frames;
    a->samples = veil_calloc(a->n ? a->n : 1, sizeof *a->samples);
    sf_read_short(sf, a->samples, info.frames);
    sf_close(sf);
    fseek(f, 0, SEEK_END);
    a->wav_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    a->wav = veil_calloc(a->wav_len ? a->wav_len : 1, 1);
    size_t got = fread(a->wav, 1, a->wav_len, f);
    fclose(f);
    return got == a->wav_len ? 0 : 3;
}

static char *direct(ps_decoder_t *ps, const int16_t *s, size_t n)
{
    int32 score;
    if (ps_start_stream(ps) < 0 || ps_start_utt(ps) < 0 ||
        ps_process_raw(ps, s, n, FALSE, TRUE) < 0 || ps_end_utt(ps) < 0)
        return NULL;
    const char *h = ps_get_hyp(ps, &score);
    return strdup(h ? h : "");
}

/* The "text" of {"text":"..."} (pocketsphinx output has no escapes). */
static char *confidential(veil_client *c, const audio *a)
{
    veil_client_transcription t = {.audio = a->wav, .audio_len = a->wav_len};
    veil_bhttp_msg *resp = NULL;
    char *out = NULL;
    size_t n = 0;
    veil_result r = veil_client_transcribe(c, &t, &resp);
    const uint8_t *p = veil_ok(r) ? veil_bhttp_content(resp, &n) : NULL;
    if (p && veil_bhttp_status(resp) == 200) {
        char *body = strndup((const char *)p, n);
        const char *s = body ? strstr(body, "\"text\":\"") : NULL;
        const char *e = s ? strchr(s + 8, '"') : NULL;
        if (e)
            out = strndup(s + 8, (size_t)(e - s - 8));
        free(body);
    } else if (!veil_ok(r)) {
        fprintf(stderr, "gateway bench: transcription: %s\n", r.msg ? r.msg : "failed");
    }
    veil_bhttp_msg_free(resp);
    return out;
}

/* How long the gateway's application took over the last request (one at a
 * time in (a)), so the path's own cost can be told apart from the engine's. */
static pthread_mutex_t g_app_mu = PTHREAD_MUTEX_INITIALIZER;
static double g_app_wall;

static veil_result app_handler(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    double t0 = now_s();
    veil_result r = veil_app_handle(ctx, req, w);
    pthread_mutex_lock(&g_app_mu);
    g_app_wall = now_s() - t0;
    pthread_mutex_unlock(&g_app_mu);
    return r;
}

static double app_wall(void)
{
    pthread_mutex_lock(&g_app_mu);
    double v = g_app_wall;
    pthread_mutex_unlock(&g_app_mu);
    return v;
}

typedef struct stt_result {
    int runs;
    double audio_s, direct_med, direct_best, conf_med, conf_best;
    double direct_cpu_med, conf_cpu_med; /* process CPU time */
    double path_med;                     /* confidential minus the app's own time */
    double pair_med;                     /* median of each run's confidential/direct */
    char text[1024];
    bool ok;
} stt_result;

static void stt_bench(const char *path, int runs, double max_s, stt_result *out)
{
    audio a = {0};
    simtee sim;
    stack st = {0};
    veil_app *app = NULL;
    veil_ohttp_gateway *keys = NULL;
    veil_client *c = NULL;
    veil_client_report rep;
    double td[MAX_RUNS], tc[MAX_RUNS], cd[MAX_RUNS], cc[MAX_RUNS], tp[MAX_RUNS], pr[MAX_RUNS];

    memset(out, 0, sizeof *out);
    if (audio_load(path, &a) != 0)
        exit(3);
    out->audio_s = (double)a.n / 16000.0;
    veil_app_config ac = {0};
    CHECK("application", veil_app_new(&ac, &app));
    cmd_ln_t *pc = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", VEIL_APP_PS_HMM, "-lm",
                               VEIL_APP_PS_LM, "-dict", VEIL_APP_PS_DICT, NULL);
    ps_decoder_t *ps = pc ? ps_init(pc) : NULL;
    if (!ps)
        die("pocketsphinx", VEIL_ERR(VEIL_E_INTERNAL, "model did not load"));

    sim_start(&sim);
    CHECK("keys", veil_gateway_standalone_keys(&keys));
    stack_start(&st, keys, sim.att, app_handler, app, 16, true);
    veil_client_opts o = {
        .gateway_url = st.gw_url, .relay_url = st.relay_url, .policy_json = sim.policy};
    CHECK("client", veil_client_new(&o, &c));
    CHECK("verification", veil_client_verify(c, &rep));

    /* warm-up, untimed: caches, the app's decoder, the connections' code paths */
    char *w = confidential(c, &a);
    free(w);
    out->ok = true;
    double start = now_s();
    int done = 0;
    for (; done < runs && (done == 0 || now_s() - start < max_s); done++) {
        double c0 = cpu_s(), t0 = now_s();
        char *d = direct(ps, a.samples, a.n);
        td[done] = now_s() - t0;
        cd[done] = cpu_s() - c0;
        c0 = cpu_s();
        t0 = now_s();
        char *v = confidential(c, &a);
        tc[done] = now_s() - t0;
        cc[done] = cpu_s() - c0;
        tp[done] = tc[done] - app_wall();
        if (!d || !v || strcmp(d, v) != 0 || (done && strcmp(out->text, d) != 0)) {
            fprintf(stderr, "gateway bench: texts differ (direct \"%s\", confidential \"%s\")\n",
                    d ? d : "?", v ? v : "?");
            out->ok = false;
        }
        if (!done && d)
            snprintf(out->text, sizeof out->text, "%s", d);
        free(d);
        free(v);
    }
    out->runs = done;
    out->direct_best = td[0];
    out->conf_best = tc[0];
    for (int i = 1; i < done; i++) {
        out->direct_best = td[i] < out->direct_best ? td[i] : out->direct_best;
        out->conf_best = tc[i] < out->conf_best ? tc[i] : out->conf_best;
    }
    out->direct_med = median(td, (size_t)done);
    out->conf_med = median(tc, (size_t)done);
    out->direct_cpu_med = median(cd, (size_t)done);
    out->conf_cpu_med = median(cc, (size_t)done);
    out->path_med = median(tp, (size_t)done);
    /* each run's two halves ran back to back, under the same load: their
     * ratio drifts less than the ratio of two medians on a shared machine */
    for (int i = 0; i < done; i++)
        pr[i] = tc[i] / td[i];
    out->pair_med = median(pr, (size_t)done);

    veil_client_free(c);
    stack_stop(&st);
    sim_stop(&sim);
    ps_free(ps);
    cmd_ln_free_r(pc);
    veil_app_free(app);
    veil_free(a.samples);
    veil_free(a.wav);
}

/* ---- (b) throughput -------------------------------------------------------------------- */

/* The 1 KiB echo model: answers the request's content as it came. */
static veil_result echo_handler(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    static const veil_app_header ct = {"content-type", "application/octet-stream"};
    size_t n = 0;
    const uint8_t *p = veil_bhttp_content(req, &n);
    VEIL_GUARD(w->head(w->arg, 200, &ct, 1));
    VEIL_GUARD(w->body(w->arg, p, n));
    return w->end(w->arg);
}

typedef enum mode { MODE_PLAIN, MODE_OHTTP } mode;

typedef struct shared {
    mode m;
    const char *url;
    const veil_ohttp_keyconfig *cfg;
    veil_hpke_suite suite;
    const veil_buf *inner; /* the encoded inner request */
    const uint8_t *payload;
    unsigned per_conn;
    double seconds;
    pthread_barrier_t go;
    double t0; /* set by the main thread after the barrier */
    atomic_int failures;
} shared;

typedef struct conn {
    shared *sh;
    veil_buf *req;               /* per request: what is POSTed */
    veil_ohttp_client_ctx **ctx; /* OHTTP: to open the responses afterwards */
    veil_buf *resp;
    long *status;
    double *t_done;
    unsigned done;
} conn;

static bool check_inner(const veil_bhttp_msg *m, const uint8_t *payload)
{
    size_t n = 0;
    const uint8_t *p = m ? veil_bhttp_content(m, &n) : NULL;
    return m && veil_bhttp_status(m) == 200 && p && veil_public_equal(p, n, payload, ECHO_LEN);
}

/* After timing: every answer must be the echo (OHTTP: decrypted first). */
static void conn_verify(conn *c)
{
    for (unsigned i = 0; i < c->done; i++) {
        veil_buf plain;
        veil_bhttp_msg *m = NULL;
        bool ok = c->status[i] == 200;
        veil_buf_init(&plain, 0);
        if (ok && c->sh->m == MODE_OHTTP)
            ok = veil_ok(
                     veil_ohttp_client_decap(c->ctx[i], c->resp[i].data, c->resp[i].len, &plain)) &&
                 veil_ok(veil_bhttp_decode(plain.data, plain.len, NULL, &m));
        else if (ok)
            ok = veil_ok(veil_bhttp_decode(c->resp[i].data, c->resp[i].len, NULL, &m));
        if (!ok || !check_inner(m, c->sh->payload))
            atomic_fetch_add(&c->sh->failures, 1);
        veil_bhttp_msg_free(m);
        veil_buf_free(&plain);
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    shared *sh = c->sh;
    const char *mt = sh->m == MODE_OHTTP ? VEIL_OHTTP_MT_REQUEST : VEIL_GATEWAY_MT_BHTTP;
    veil_http_client_opts o = {.timeout_ms = 30000};
    /* prepared before timing: the client's encryption is not the gateway's cost */
    for (unsigned i = 0; i < sh->per_conn; i++) {
        veil_buf_init(&c->req[i], 0);
        if (sh->m == MODE_OHTTP)
            CHECK("encapsulation", veil_ohttp_client_encap(sh->cfg, &sh->suite, sh->inner->data,
                                                           sh->inner->len, &c->req[i], &c->ctx[i]));
        else
            CHECK("request", veil_buf_append(&c->req[i], sh->inner->data, sh->inner->len));
    }
    pthread_barrier_wait(&sh->go);
    double deadline = now_s() + sh->seconds;
    for (unsigned i = 0; i < sh->per_conn && now_s() < deadline; i++) {
        veil_http_client_response out = {0};
        veil_result r = veil_http_post(sh->url, mt, c->req[i].data, c->req[i].len, &o, &out);
        c->t_done[i] = now_s();
        c->status[i] = veil_ok(r) ? out.status : 0;
        c->resp[i] = out.body; /* kept for the check after timing */
        out.body = (veil_buf){0};
        veil_http_client_response_free(&out);
        c->done = i + 1;
    }
    return NULL;
}

static void conn_free(conn *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        veil_buf_free(&c->req[i]);
        veil_buf_free(&c->resp[i]);
        if (c->ctx)
            veil_ohttp_client_ctx_free(c->ctx[i]);
    }
    veil_free(c->req);
    veil_free(c->resp);
    veil_free(c->ctx);
    veil_free(c->status);
    veil_free(c->t_done);
}

/* Requests per second over the window in which every connection was busy:
 * from the start to the first connection's last answer or the deadline.
 * *cpu_us: process CPU time per request over the whole run (client and
 * server alike, on both sides of the comparison). */
static double load_rate(shared *sh, unsigned conns, double *cpu_us)
{
    conn *cs = veil_calloc(conns, sizeof *cs);
    pthread_t *th = veil_calloc(conns, sizeof *th);
    if (!cs || !th)
        die("load", VEIL_ERR(VEIL_E_NOMEM, "out of memory"));
    pthread_barrier_init(&sh->go, NULL, conns + 1);
    atomic_init(&sh->failures, 0);
    for (unsigned k = 0; k < conns; k++) {
        conn *c = &cs[k];
        c->sh = sh;
        c->req = veil_calloc(sh->per_conn, sizeof *c->req);
        c->resp = veil_calloc(sh->per_conn, sizeof *c->resp);
        c->ctx = veil_calloc(sh->per_conn, sizeof *c->ctx);
        c->status = veil_calloc(sh->per_conn, sizeof *c->status);
        c->t_done = veil_calloc(sh->per_conn, sizeof *c->t_done);
        if (!c->req || !c->resp || !c->ctx || !c->status || !c->t_done ||
            pthread_create(&th[k], NULL, conn_main, c) != 0)
            die("load", VEIL_ERR(VEIL_E_NOMEM, "out of memory or threads"));
    }
    pthread_barrier_wait(&sh->go);
    double t0 = now_s(), t_end = t0 + sh->seconds, c0 = cpu_s();
    for (unsigned k = 0; k < conns; k++)
        pthread_join(th[k], NULL);
    double c1 = cpu_s();
    unsigned long all = 0;
    for (unsigned k = 0; k < conns; k++)
        all += cs[k].done;
    *cpu_us = all ? (c1 - c0) * 1e6 / (double)all : 0;
    for (unsigned k = 0; k < conns; k++) /* the window closes when one connection ran dry */
        if (cs[k].done == sh->per_conn && cs[k].t_done[cs[k].done - 1] < t_end)
            t_end = cs[k].t_done[cs[k].done - 1];
    unsigned long n = 0;
    for (unsigned k = 0; k < conns; k++) {
        for (unsigned i = 0; i < cs[k].done; i++)
            n += cs[k].t_done[i] <= t_end;
        conn_verify(&cs[k]);
        conn_free(&cs[k], sh->per_conn);
    }
    pthread_barrier_destroy(&sh->go);
    veil_free(cs);
    veil_free(th);
    if (atomic_load(&sh->failures))
        fprintf(stderr, "gateway bench: %d %s answers were wrong\n", atomic_load(&sh->failures),
                sh->m == MODE_OHTTP ? "OHTTP" : "plain");
    return t_end > t0 ? (double)n / (t_end - t0) : 0;
}

/* The bare crypto: decapsulate a request and encapsulate the answer, on
 * `threads` threads, each bounded by count and by time. */
typedef struct crypto_job {
    const veil_ohttp_gateway *keys;
    const veil_buf *reqs; /* prepared encapsulated requests */
    size_t n_reqs;
    const veil_buf *answer; /* the encoded inner response */
    double seconds;
    unsigned long ops;
    bool failed;
} crypto_job;

static void *crypto_main(void *arg)
{
    crypto_job *j = arg;
    veil_buf plain, sealed;
    veil_buf_init(&plain, 0);
    veil_buf_init(&sealed, 0);
    double deadline = now_s() + j->seconds;
    for (unsigned long i = 0; i < 10000000UL && now_s() < deadline; i++) {
        veil_ohttp_server_ctx *sctx = NULL;
        const veil_buf *rq = &j->reqs[i % j->n_reqs];
        veil_buf_clear(&plain);
        veil_buf_clear(&sealed);
        if (!veil_ok(veil_ohttp_server_decap(j->keys, rq->data, rq->len, &plain, &sctx, NULL)) ||
            !veil_ok(veil_ohttp_server_encap(sctx, j->answer->data, j->answer->len, &sealed)))
            j->failed = true;
        veil_ohttp_server_ctx_free(sctx);
        j->ops++;
    }
    veil_buf_free(&plain);
    veil_buf_free(&sealed);
    return NULL;
}

static double crypto_rate(const veil_ohttp_gateway *keys, const veil_buf *reqs, size_t n,
                          const veil_buf *answer, unsigned threads, double seconds, double *cpu_us)
{
    crypto_job jobs[64];
    pthread_t th[64];
    threads = threads > 64 ? 64 : threads;
    double t0 = now_s(), c0 = cpu_s();
    for (unsigned k = 0; k < threads; k++) {
        jobs[k] = (crypto_job){keys, reqs, n, answer, seconds, 0, false};
        if (pthread_create(&th[k], NULL, crypto_main, &jobs[k]) != 0)
            die("crypto", VEIL_ERR(VEIL_E_INTERNAL, "pthread_create"));
    }
    unsigned long ops = 0;
    for (unsigned k = 0; k < threads; k++) {
        pthread_join(th[k], NULL);
        ops += jobs[k].ops;
        if (jobs[k].failed)
            die("crypto", VEIL_ERR(VEIL_E_CRYPTO, "decapsulation or encapsulation failed"));
    }
    *cpu_us = ops ? (cpu_s() - c0) * 1e6 / (double)ops : 0;
    return (double)ops / (now_s() - t0);
}

typedef struct rate_result {
    unsigned conns, threads;
    int rounds;
    double plain, ohttp, crypto; /* best of the rounds */
    double plain_med, ohttp_med, crypto_med;
    double ideal, ratio;
    /* process CPU per request / operation (best round), and the same
     * comparison in work: (plain + crypto) / OHTTP */
    double plain_cpu_us, ohttp_cpu_us, crypto_cpu_us, cpu_ratio;
    bool ok;
} rate_result;

static void rate_bench(unsigned conns, unsigned crypto_threads, double seconds, int rounds,
                       rate_result *out)
{
    veil_ohttp_gateway *keys = NULL;
    veil_buf keys_body, inner, answer;
    veil_ohttp_keyconfig cfgs[4];
    size_t n_cfgs = 0, skipped = 0, idx = 0;
    uint8_t payload[ECHO_LEN];
    veil_bhttp_msg *rq = NULL, *rs = NULL;
    stack st = {0};
    shared sh = {0};
    double pl[MAX_ROUNDS], oh[MAX_ROUNDS], cr[MAX_ROUNDS];
    double plc[MAX_ROUNDS], ohc[MAX_ROUNDS], crc[MAX_ROUNDS], unused;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    veil_buf_init(&keys_body, 0);
    veil_buf_init(&inner, 0);
    veil_buf_init(&answer, 0);
    CHECK("keys", veil_gateway_standalone_keys(&keys));
    CHECK("keys", veil_ohttp_gateway_keys(keys, &keys_body));
    CHECK("keys",
          veil_ohttp_keys_decode(keys_body.data, keys_body.len, cfgs, 4, &n_cfgs, &skipped));
    CHECK("suite", veil_ohttp_select(cfgs, n_cfgs, &idx, &sh.suite));
    /* the inner request and the answer the echo model gives it */
    CHECK("request", veil_bhttp_request_new("POST", "https", "gateway", "/v1/echo", &rq));
    CHECK("request", veil_bhttp_add_header(rq, "content-type", 12, "application/octet-stream", 24));
    CHECK("request", veil_bhttp_set_content(rq, payload, sizeof payload));
    CHECK("request", veil_bhttp_encode(rq, VEIL_BHTTP_KNOWN_LENGTH, &inner));
    CHECK("answer", veil_bhttp_response_new(200, &rs));
    CHECK("answer", veil_bhttp_add_header(rs, "content-type", 12, "application/octet-stream", 24));
    CHECK("answer", veil_bhttp_set_content(rs, payload, sizeof payload));
    CHECK("answer", veil_bhttp_encode(rs, VEIL_BHTTP_KNOWN_LENGTH, &answer));

    /* requests for the crypto side, encapsulated once */
    veil_buf creqs[64];
    for (size_t i = 0; i < 64; i++) {
        veil_ohttp_client_ctx *cc = NULL;
        veil_buf_init(&creqs[i], 0);
        CHECK("encapsulation", veil_ohttp_client_encap(&cfgs[idx], &sh.suite, inner.data, inner.len,
                                                       &creqs[i], &cc));
        veil_ohttp_client_ctx_free(cc);
    }
    /* a second key set for the gateway (it takes ownership); the crypto side
     * keeps this one */
    veil_ohttp_gateway *gw_keys = NULL;
    CHECK("keys", veil_gateway_standalone_keys(&gw_keys));
    veil_buf gw_keys_body;
    veil_ohttp_keyconfig gw_cfgs[4];
    size_t gw_n = 0, gw_idx = 0;
    veil_buf_init(&gw_keys_body, 0);
    CHECK("keys", veil_ohttp_gateway_keys(gw_keys, &gw_keys_body));
    CHECK("keys",
          veil_ohttp_keys_decode(gw_keys_body.data, gw_keys_body.len, gw_cfgs, 4, &gw_n, &skipped));
    CHECK("suite", veil_ohttp_select(gw_cfgs, gw_n, &gw_idx, &sh.suite));
    stack_start(&st, gw_keys, NULL, echo_handler, NULL, conns, false);

    char plain_url[96];
    snprintf(plain_url, sizeof plain_url, "%s%s", st.gw_url, VEIL_GATEWAY_PLAIN_PATH);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->threads = crypto_threads ? crypto_threads : cpus > 0 ? (unsigned)cpus : 1;
    out->conns = conns;
    out->ok = true;
    sh.cfg = &gw_cfgs[gw_idx];
    sh.inner = &inner;
    sh.payload = payload;
    sh.seconds = seconds;
    sh.per_conn = PER_CONN_MAX;
    /* A short untimed pass of each kind first (threads, connections, caches);
     * it also sizes the prepared requests: twice what a connection did per second. */
    unsigned per = 16;
    for (int m = 0; m < 2; m++) {
        sh.m = m ? MODE_OHTTP : MODE_PLAIN;
        sh.url = m ? st.gw_post : plain_url;
        sh.per_conn = per;
        sh.seconds = 1.0;
        double r = load_rate(&sh, conns, &unused);
        unsigned want = (unsigned)(2.0 * r * seconds / conns) + 16;
        per = want > per ? want : per;
        out->ok = out->ok && atomic_load(&sh.failures) == 0;
    }
    sh.per_conn = per > PER_CONN_MAX ? PER_CONN_MAX : per;
    sh.seconds = seconds;
    for (int k = 0; k < rounds; k++) {
        sh.m = MODE_PLAIN;
        sh.url = plain_url;
        pl[k] = load_rate(&sh, conns, &plc[k]);
        out->ok = out->ok && atomic_load(&sh.failures) == 0;
        sh.m = MODE_OHTTP;
        sh.url = st.gw_post;
        oh[k] = load_rate(&sh, conns, &ohc[k]);
        out->ok = out->ok && atomic_load(&sh.failures) == 0;
        cr[k] = crypto_rate(keys, creqs, 64, &answer, out->threads, seconds, &crc[k]);
    }
    out->rounds = rounds;
    out->plain = pl[0], out->ohttp = oh[0], out->crypto = cr[0];
    out->plain_cpu_us = plc[0], out->ohttp_cpu_us = ohc[0], out->crypto_cpu_us = crc[0];
    for (int k = 1; k < rounds; k++) {
        out->plain = pl[k] > out->plain ? pl[k] : out->plain;
        out->ohttp = oh[k] > out->ohttp ? oh[k] : out->ohttp;
        out->crypto = cr[k] > out->crypto ? cr[k] : out->crypto;
        out->plain_cpu_us = plc[k] < out->plain_cpu_us ? plc[k] : out->plain_cpu_us;
        out->ohttp_cpu_us = ohc[k] < out->ohttp_cpu_us ? ohc[k] : out->ohttp_cpu_us;
        out->crypto_cpu_us = crc[k] < out->crypto_cpu_us ? crc[k] : out->crypto_cpu_us;
    }
    out->cpu_ratio =
        out->ohttp_cpu_us > 0 ? (out->plain_cpu_us + out->crypto_cpu_us) / out->ohttp_cpu_us : 0;
    out->plain_med = median(pl, (size_t)rounds);
    out->ohttp_med = median(oh, (size_t)rounds);
    out->crypto_med = median(cr, (size_t)rounds);
    out->ideal = 1.0 / (1.0 / out->plain + 1.0 / out->crypto);
    out->ratio = out->ohttp / out->ideal;

    stack_stop(&st);
    for (size_t i = 0; i < 64; i++)
        veil_buf_free(&creqs[i]);
    veil_ohttp_gateway_free(keys);
    veil_bhttp_msg_free(rq);
    veil_bhttp_msg_free(rs);
    veil_buf_free(&keys_body);
    veil_buf_free(&gw_keys_body);
    veil_buf_free(&inner);
    veil_buf_free(&answer);
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr,
            "usage: gateway [--runs N] [--max-seconds S] [--file WAV] [--conns C]\n"
            "               [--crypto-threads T] [--seconds S] [--rounds N] [--only stt|rate]\n"
            "               [--json] [--check]\n"
            "  --runs N        transcription runs per side (default 5, at most %d)\n"
            "  --max-seconds S stop starting transcription runs after S (default 120)\n"
            "  --conns C       concurrent connections for the rates (default 64)\n"
            "  --crypto-threads T  threads of the bare crypto (default: online CPUs)\n"
            "  --seconds S     measured time per rate (default 2)\n"
            "  --rounds N      rounds of plain / OHTTP / crypto (default 3; best kept)\n"
            "  --check         exit 1 when a target is missed (ratio <= %.2f, >= %.2f)\n",
            MAX_RUNS, STT_TARGET, RATE_TARGET);
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_FILE, *only = NULL;
    int runs = 5, rounds = 3, as_json = 0, check = 0;
    double max_s = 120, seconds = 2;
    long conns = 64, crypto_threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc)
            max_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--file") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--crypto-threads") && i + 1 < argc)
            crypto_threads = atol(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else
            return usage();
    }
    if (runs < 1 || runs > MAX_RUNS || max_s <= 0 || conns < 1 || conns > MAX_CONNS ||
        crypto_threads < 0 || crypto_threads > 64 || seconds <= 0 || seconds > 60 || rounds < 1 ||
        rounds > MAX_ROUNDS || (only && strcmp(only, "stt") && strcmp(only, "rate")))
        return usage();
    signal(SIGPIPE, SIG_IGN);

    stt_result s = {0};
    rate_result t = {0};
    bool do_stt = !only || !strcmp(only, "stt"), do_rate = !only || !strcmp(only, "rate");
    if (do_stt && access(path, R_OK) != 0) {
        fprintf(stderr, "gateway bench: %s missing (pocketsphinx-testdata?)\n", path);
        return 3;
    }
    if (do_stt)
        stt_bench(path, runs, max_s, &s);
    if (do_rate)
        rate_bench((unsigned)conns, (unsigned)crypto_threads, seconds, rounds, &t);

    double stt_ratio = s.runs ? s.conf_med / s.direct_med : 0;
    double stt_cpu_ratio = s.runs ? s.conf_cpu_med / s.direct_cpu_med : 0;
    if (as_json) {
        printf("{\"bench\":\"gateway\"");
        if (do_stt)
            printf(",\"stt\":{\"audio_s\":%.3f,\"runs\":%d,\"direct_median_s\":%.4f,"
                   "\"direct_best_s\":%.4f,\"confidential_median_s\":%.4f,"
                   "\"confidential_best_s\":%.4f,\"ratio\":%.4f,\"best_ratio\":%.4f,"
                   "\"direct_cpu_median_s\":%.4f,\"confidential_cpu_median_s\":%.4f,"
                   "\"cpu_ratio\":%.4f,\"paired_ratio\":%.4f,\"path_only_median_ms\":%.2f,"
                   "\"texts_agree\":%s}",
                   s.audio_s, s.runs, s.direct_med, s.direct_best, s.conf_med, s.conf_best,
                   stt_ratio, s.conf_best / s.direct_best, s.direct_cpu_med, s.conf_cpu_med,
                   stt_cpu_ratio, s.pair_med, s.path_med * 1e3, s.ok ? "true" : "false");
        if (do_rate)
            printf(",\"rate\":{\"conns\":%u,\"crypto_threads\":%u,\"rounds\":%d,"
                   "\"plain_rps\":%.1f,\"ohttp_rps\":%.1f,\"crypto_ops\":%.1f,"
                   "\"plain_median_rps\":%.1f,\"ohttp_median_rps\":%.1f,"
                   "\"crypto_median_ops\":%.1f,\"ideal_rps\":%.1f,\"ratio\":%.4f,"
                   "\"plain_cpu_us\":%.1f,\"ohttp_cpu_us\":%.1f,\"crypto_cpu_us\":%.1f,"
                   "\"cpu_ratio\":%.4f,\"answers_ok\":%s}",
                   t.conns, t.threads, t.rounds, t.plain, t.ohttp, t.crypto, t.plain_med,
                   t.ohttp_med, t.crypto_med, t.ideal, t.ratio, t.plain_cpu_us, t.ohttp_cpu_us,
                   t.crypto_cpu_us, t.cpu_ratio, t.ok ? "true" : "false");
        printf("}\n");
    } else {
        if (do_stt)
            printf(
                "gateway (a): %.2f s of audio, %d runs each after one warm-up\n"
                "                                      wall: median      best | process CPU: "
                "median\n"
                "  pocketsphinx direct, model loaded %9.1f ms %9.1f ms | %9.1f ms\n"
                "  client->relay->gateway->engine    %9.1f ms %9.1f ms | %9.1f ms\n"
                "  confidential / direct             %9.3f    %9.3f    | %9.3f  (target <= %.2f)\n"
                "  paired: median of each run's confidential/direct %.3f (target <= %.2f)\n"
                "  the path alone (confidential minus the gateway app's own time): %.1f ms"
                " median\n"
                "  texts agree: %s; text: %s\n",
                s.audio_s, s.runs, s.direct_med * 1e3, s.direct_best * 1e3, s.direct_cpu_med * 1e3,
                s.conf_med * 1e3, s.conf_best * 1e3, s.conf_cpu_med * 1e3, stt_ratio,
                s.conf_best / s.direct_best, stt_cpu_ratio, STT_TARGET, s.pair_med, STT_TARGET,
                s.path_med * 1e3, s.ok ? "yes" : "NO", s.text);
        if (do_rate)
            printf("gateway (b): 1 KiB echo, %u connections, %d rounds (best / median)\n"
                   "  plain HTTP (same gateway)   %10.0f /s %10.0f /s\n"
                   "  OHTTP                       %10.0f /s %10.0f /s\n"
                   "  crypto alone (%u threads)    %10.0f /s %10.0f /s  (decap + encap)\n"
                   "  ideal 1/(1/plain+1/crypto)  %10.0f /s\n"
                   "  OHTTP / ideal               %10.3f     (target >= %.2f)\n"
                   "  process CPU per request: plain %.1f us, OHTTP %.1f us, crypto %.1f us;\n"
                   "  (plain + crypto) / OHTTP    %10.3f     (target >= %.2f); answers ok: %s\n",
                   t.conns, t.rounds, t.plain, t.plain_med, t.ohttp, t.ohttp_med, t.threads,
                   t.crypto, t.crypto_med, t.ideal, t.ratio, RATE_TARGET, t.plain_cpu_us,
                   t.ohttp_cpu_us, t.crypto_cpu_us, t.cpu_ratio, RATE_TARGET, t.ok ? "yes" : "NO");
    }
    int rc = 0;
    if ((do_stt && !s.ok) || (do_rate && !t.ok))
        rc = 1;
    /* (a) is checked on the paired ratio (each run's halves back to back, so
     * load that lands on a whole run cancels), (b) on process CPU time: on an
     * idle machine it tracks the wall clock (the rates are CPU-bound), on a
     * shared one it is not skewed by other processes' load landing on one
     * side of a comparison. */
    if (check && ((do_stt && s.pair_med > STT_TARGET) || (do_rate && t.cpu_ratio < RATE_TARGET)))
        rc = 1;
    return rc;
}
