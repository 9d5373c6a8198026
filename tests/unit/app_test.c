/* The gateway's inner app (veil_app_handle), end to end:
 *  - speech-to-text: the LibriVox sample of pocketsphinx-testdata through the
 *    app equals pocketsphinx called directly on the same audio, for the WAV,
 *    for FLAC made from it here with libsndfile (bit-exact samples), and for
 *    FLAC and Ogg Vorbis resampled to 44.1 kHz stereo (pocketsphinx directly
 *    on what the app decoded); json, text and verbose_json; the WER over
 *    all five LibriVox files against the package's reference transcripts is
 *    printed and must equal the direct decoder's;
 *  - audio decoding: bit-exact PCM for lossless 16 kHz input, fidelity (SNR)
 *    of the resampled and lossy paths, MP3;
 *  - chat through an in-process upstream (http.h server): each server-sent
 *    event reaches the writer before the upstream produces the next (a
 *    condition-variable handshake with bounded waits), model renaming and
 *    Authorization upstream, 4xx passthrough, 502/504, a stream that breaks;
 *  - the whisper.cpp and OpenAI transcription upstreams;
 *  - errors: routes, methods, bad multipart, unknown model, garbage audio,
 *    oversized body, audio too long, and configuration mistakes.
 * Skips (77-style, as a cmocka skip) when the pocketsphinx packages are
 * missing. */
#include <jansson.h>
#include <math.h>
#include <pocketsphinx.h>
#include <pthread.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/audio_internal.h"
#include "testutil.h"
#include "veil/app.h"
#include "veil/bhttp.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/multipart.h"

#define LIBRIVOX "/usr/share/pocketsphinx/test/data/librivox"
#define SAMPLE "sense_and_sensibility_01_austen_64kb-0870" /* 7.1 s */
#define SHORT "sense_and_sensibility_01_austen_64kb-0880"  /* 3.0 s */
#define WAIT_MS 5000
#define N_STREAM 5
#define BOUNDARY "veil-test-boundary-7d3f"

static const char *const librivox[] = {
    "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930"};
#define N_LIBRIVOX (sizeof librivox / sizeof librivox[0])

/* ---- fixtures ------------------------------------------------------------------ */

static struct {
    veil_app *app;  /* embedded STT + upstream models on the fake server */
    veil_app *fast; /* short upstream timeout */
    veil_http_server *srv;
    uint16_t port;
    cmd_ln_t *ps_cfg; /* the direct decoder */
    ps_decoder_t *ps;
    /* cached results per LibriVox file */
    char *direct[N_LIBRIVOX], *via_app[N_LIBRIVOX];
} F;

/* State shared with the fake upstream (server threads). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int delivered;         /* events the app's writer has received */
    int produced;          /* events the upstream produced */
    bool handshake_failed; /* the upstream produced an event before the last arrived */
    char last_model[64];   /* "model" of the last request upstream */
    char last_auth[64];    /* its Authorization header */
    char last_fields[256]; /* form field names it received, comma separated */
    size_t last_file_len;
    veil_pcm last_wav; /* the WAV the whisper upstream got, decoded */
} U = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (U.mu held) until U.delivered >= n, at most WAIT_MS. */
static bool wait_delivered(int n)
{
    int64_t end = now_ms() + WAIT_MS;
    while (U.delivered < n && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&U.cv, &U.mu, &ts);
    }
    return U.delivered >= n;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = veil_calloc((size_t)n + 1, 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint8_t *read_wav(const char *id, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.wav", LIBRIVOX, id);
    uint8_t *p = read_file(path, len);
    if (!p)
        fail_msg("cannot read %s (install pocketsphinx-testdata)", path);
    return p;
}

/* The samples of a 16 kHz mono WAV, read with libsndfile directly. */
static int16_t *wav_samples(const char *id, size_t *n)
{
    char path[512];
    SF_INFO info = {0};
    snprintf(path, sizeof path, "%s/%s.wav", LIBRIVOX, id);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    assert_non_null(sf);
    assert_int_equal(info.samplerate, 16000);
    assert_int_equal(info.channels, 1);
    int16_t *s = veil_calloc((size_t)info.frames, sizeof *s);
    assert_non_null(s);
    assert_int_equal(sf_read_short(sf, s, info.frames), info.frames);
    sf_close(sf);
    *n = (size_t)info.frames;
    return s;
}

/* pocketsphinx called directly: a new stream, one whole utterance. NULL on
 * failure (it may run on a helper thread, where cmocka cannot fail a test). */
static char *direct_hyp_raw(const int16_t *s, size_t n)
{
    int32 score;
    if (ps_start_stream(F.ps) < 0 || ps_start_utt(F.ps) < 0 ||
        ps_process_raw(F.ps, s, n, FALSE, TRUE) < 0 || ps_end_utt(F.ps) < 0)
        return NULL;
    const char *h = ps_get_hyp(F.ps, &score);
    if (!h)
        h = "";
    char *c = veil_calloc(strlen(h) + 1, 1);
    if (c)
        memcpy(c, h, strlen(h));
    return c;
}

/* The direct decoder on a helper thread, beside the app on the test's own
 * (two cores decode at once: the suite's time is mostly pocketsphinx). */
typedef struct direct_job {
    pthread_t t;
    const int16_t *s;
    size_t n;
    char *out;
} direct_job;

static void *direct_main(void *arg)
{
    direct_job *j = arg;
    j->out = direct_hyp_raw(j->s, j->n);
    return NULL;
}

static void direct_start(direct_job *j, const int16_t *s, size_t n)
{
    j->s = s;
    j->n = n;
    j->out = NULL;
    assert_int_equal(pthread_create(&j->t, NULL, direct_main, j), 0);
}

static char *direct_join(direct_job *j)
{
    pthread_join(j->t, NULL);
    assert_non_null(j->out);
    return j->out;
}

/* ---- requests and the capturing writer ------------------------------------------ */

static veil_bhttp_msg *request(const char *method, const char *path, const char *ctype,
                               const void *body, size_t n)
{
    veil_bhttp_msg *m = NULL;
    tu_ok(veil_bhttp_request_new(method, "https", "gateway.example", path, &m));
    if (ctype)
        tu_ok(veil_bhttp_add_header(m, "content-type", 12, ctype, strlen(ctype)));
    if (n)
        tu_ok(veil_bhttp_set_content(m, body, n));
    return m;
}

typedef struct form {
    veil_buf b;
} form;

static void form_init(form *f) { veil_buf_init(&f->b, 0); }

static void form_add(form *f, const char *name, const char *filename, const void *p, size_t n)
{
    char h[256];
    snprintf(h, sizeof h, "--%s\r\nContent-Disposition: form-data; name=\"%s\"%s%s%s\r\n\r\n",
             BOUNDARY, name, filename ? "; filename=\"" : "", filename ? filename : "",
             filename ? "\"" : "");
    tu_ok(veil_buf_append(&f->b, h, strlen(h)));
    tu_ok(veil_buf_append(&f->b, p, n));
    tu_ok(veil_buf_append(&f->b, "\r\n", 2));
}

static void form_text(form *f, const char *name, const char *v)
{
    form_add(f, name, NULL, v, strlen(v));
}

static veil_bhttp_msg *form_request(form *f)
{
    tu_ok(veil_buf_append(&f->b, "--" BOUNDARY "--\r\n", strlen(BOUNDARY) + 6));
    veil_bhttp_msg *m = request("POST", "/v1/audio/transcriptions",
                                "multipart/form-data; boundary=" BOUNDARY, f->b.data, f->b.len);
    veil_buf_free(&f->b);
    return m;
}

typedef struct capture {
    int heads, ends, bodies;
    unsigned status;
    char ctype[128], allow[32], cache[32];
    veil_buf body;
    bool fail_body;  /* the writer refuses bodies */
    bool stream;     /* count events for the upstream handshake */
    bool events_ok;  /* each body() was exactly one "data: ...\n\n" event */
    int order_error; /* body before head, or anything after end */
} capture;

static void capture_init(capture *c)
{
    memset(c, 0, sizeof *c);
    veil_buf_init(&c->body, 0);
    c->events_ok = true;
}

static veil_result cap_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    capture *c = arg;
    if (c->heads || c->ends)
        c->order_error++;
    c->heads++;
    c->status = status;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(h[i].name, "content-type"))
            snprintf(c->ctype, sizeof c->ctype, "%s", h[i].value);
        else if (!strcmp(h[i].name, "allow"))
            snprintf(c->allow, sizeof c->allow, "%s", h[i].value);
        else if (!strcmp(h[i].name, "cache-control"))
            snprintf(c->cache, sizeof c->cache, "%s", h[i].value);
    }
    return VEIL_OK;
}

static veil_result cap_body(void *arg, const uint8_t *p, size_t n)
{
    capture *c = arg;
    if (!c->heads || c->ends)
        c->order_error++;
    if (c->fail_body)
        return VEIL_ERR(VEIL_E_INTERNAL, "test: writer refuses");
    c->bodies++;
    tu_ok(veil_buf_append(&c->body, p, n));
    if (c->stream) {
        if (n < 8 || strncmp((const char *)p, "data: ", 6) != 0 || p[n - 2] != '\n' ||
            p[n - 1] != '\n')
            c->events_ok = false;
        for (size_t i = 0; i + 3 < n; i++)
            if (p[i] == '\n' && p[i + 1] == '\n')
                c->events_ok = false; /* two events in one call */
        pthread_mutex_lock(&U.mu);
        U.delivered++;
        pthread_cond_broadcast(&U.cv);
        pthread_mutex_unlock(&U.mu);
    }
    return VEIL_OK;
}

static veil_result cap_end(void *arg)
{
    capture *c = arg;
    if (!c->heads || c->ends)
        c->order_error++;
    c->ends++;
    tu_ok(veil_buf_u8(&c->body, 0)); /* NUL-terminate for string checks */
    c->body.len--;
    return VEIL_OK;
}

static veil_result handle(veil_app *app, veil_bhttp_msg *rq, capture *c)
{
    veil_app_writer w = {cap_head, cap_body, cap_end, c};
    veil_result r = veil_app_handle(app, rq, &w);
    veil_bhttp_msg_free(rq);
    assert_int_equal(c->order_error, 0);
    return r;
}

/* A request that must be answered: OK, one head, one end, the status. */
static json_t *answered(veil_app *app, veil_bhttp_msg *rq, capture *c, unsigned status)
{
    tu_ok(handle(app, rq, c));
    assert_int_equal(c->heads, 1);
    assert_int_equal(c->ends, 1);
    if (c->status != status)
        fail_msg("status %u, want %u; body: %s", c->status, status, (char *)c->body.data);
    if (strncmp(c->ctype, "application/json", 16) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)c->body.data, c->body.len, 0, NULL);
    assert_non_null(j);
    return j;
}

/* An OpenAI error with this status and code. */
static void expect_error(veil_app *app, veil_bhttp_msg *rq, unsigned status, const char *code)
{
    capture c;
    capture_init(&c);
    json_t *j = answered(app, rq, &c, status);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        status >= 500 ? "server_error" : "invalid_request_error");
    if (code)
        assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    json_decref(j);
    veil_buf_free(&c.body);
}

/* Transcribe through the app; returns the "text" (json) or the body (text). */
static char *app_transcribe(const void *audio, size_t n, const char *filename, const char *model,
                            const char *fmt)
{
    form f;
    capture c;
    form_init(&f);
    capture_init(&c);
    form_add(&f, "file", filename, audio, n);
    if (model)
        form_text(&f, "model", model);
    if (fmt)
        form_text(&f, "response_format", fmt);
    json_t *j = answered(F.app, form_request(&f), &c, 200);
    char *out;
    if (j) {
        const char *t = json_string_value(json_object_get(j, "text"));
        assert_non_null(t);
        out = veil_calloc(strlen(t) + 1, 1);
        memcpy(out, t, strlen(t));
        json_decref(j);
        veil_buf_free(&c.body);
    } else {
        out = (char *)veil_buf_detach(&c.body, &(size_t){0});
    }
    return out;
}

/* ---- the fake upstream (runs on server threads) ------------------------------------ */

typedef struct up_stream {
    int k; /* next event */
    bool breaks;
    char ev[256];
} up_stream;

static ssize_t up_read(void *ctx, uint8_t *buf, size_t cap)
{
    up_stream *s = ctx;
    if (s->k > N_STREAM)
        return 0;
    if (s->breaks && s->k == 2)
        return VEIL_HTTP_STREAM_ERROR;
    pthread_mutex_lock(&U.mu);
    if (s->k > 0 && !wait_delivered(s->k))
        U.handshake_failed = true; /* event k-1 did not reach the writer in time */
    U.produced++;
    pthread_mutex_unlock(&U.mu);
    int n = s->k < N_STREAM
                ? snprintf(s->ev, sizeof s->ev,
                           "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                           "\"delta\":{\"content\":\"w%d \"}}]}\n\n",
                           s->k)
                : snprintf(s->ev, sizeof s->ev, "data: [DONE]\n\n");
    s->k++;
    assert_true((size_t)n <= cap);
    memcpy(buf, s->ev, (size_t)n);
    return n;
}

static void up_chat(veil_http_request *req, veil_http_response *resp)
{
    size_t len = 0;
    const uint8_t *body = veil_http_req_body(req, &len);
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    const char *model = json_string_value(json_object_get(j, "model"));
    const char *auth = veil_http_req_header(req, "authorization");
    pthread_mutex_lock(&U.mu);
    snprintf(U.last_model, sizeof U.last_model, "%s", model ? model : "");
    snprintf(U.last_auth, sizeof U.last_auth, "%s", auth ? auth : "");
    pthread_mutex_unlock(&U.mu);
    if (model && (!strcmp(model, "up-stream") || !strcmp(model, "up-break"))) {
        up_stream *s = veil_calloc(1, sizeof *s);
        s->breaks = !strcmp(model, "up-break");
        veil_http_req_set_state(req, s, veil_free);
        veil_http_resp_stream(resp, 200, "text/event-stream", up_read, s);
    } else if (model && !strcmp(model, "up-slow")) {
        struct timespec ts = {1, 500000000L};
        nanosleep(&ts, NULL);
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, "{}", 2);
    } else if (model && !strcmp(model, "up-500")) {
        veil_http_resp_set(resp, 500, VEIL_HTTP_MT_JSON, "{\"secret\":1}", 12);
    } else if (model && !strcmp(model, "up-400")) {
        static const char e[] =
            "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\","
            "\"param\":null,\"code\":\"upstream_says_no\"}}";
        veil_http_resp_set(resp, 400, VEIL_HTTP_MT_JSON, e, sizeof e - 1);
    } else {
        static const char ok[] = "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                                 "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}]}";
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, ok, sizeof ok - 1);
    }
    json_decref(j);
}

static void up_form(veil_http_request *req, veil_http_response *resp, bool whisper)
{
    size_t len = 0;
    const uint8_t *body = veil_http_req_body(req, &len);
    veil_multipart *m = NULL;
    if (!veil_ok(
            veil_multipart_parse(veil_http_req_header(req, "content-type"), body, len, NULL, &m))) {
        veil_http_resp_set(resp, 400, VEIL_HTTP_MT_JSON, "{}", 2);
        return;
    }
    pthread_mutex_lock(&U.mu);
    U.last_fields[0] = '\0';
    for (size_t i = 0; i < veil_multipart_count(m); i++) {
        const veil_multipart_part *p = veil_multipart_get(m, i);
        size_t used = strlen(U.last_fields);
        snprintf(U.last_fields + used, sizeof U.last_fields - used, "%s%s", i ? "," : "", p->name);
        if (!strcmp(p->name, "model"))
            snprintf(U.last_model, sizeof U.last_model, "%.*s", (int)p->len, p->data);
    }
    const veil_multipart_part *file = veil_multipart_find(m, "file");
    U.last_file_len = file ? file->len : 0;
    veil_pcm_free(&U.last_wav);
    if (whisper && file && !veil_ok(veil_audio_decode(file->data, file->len, 600, &U.last_wav)))
        U.last_wav.n = 0;
    const veil_multipart_part *rf = veil_multipart_find(m, "response_format");
    bool verbose = rf && rf->len == 12 && !memcmp(rf->data, "verbose_json", 12);
    pthread_mutex_unlock(&U.mu);
    if (whisper && verbose)
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, "{\"task\":\"transcribe\"}", 21);
    else if (whisper)
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, "{\"text\":\" hello world\\n\"}", 25);
    else
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, "{\"text\":\"upstream says hi\"}", 27);
    veil_multipart_free(m);
}

static void up_handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    (void)ctx;
    const char *path = veil_http_req_path(req);
    if (!strcmp(path, "/v1/chat/completions"))
        up_chat(req, resp);
    else if (!strcmp(path, "/inference"))
        up_form(req, resp, true);
    else if (!strcmp(path, "/v1/audio/transcriptions"))
        up_form(req, resp, false);
    else
        veil_http_problem(resp, 404, NULL, NULL, NULL);
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (access(VEIL_APP_PS_LM, R_OK) != 0 || access(LIBRIVOX "/transcription", R_OK) != 0) {
        fprintf(stderr, "app_test: pocketsphinx-en-us / pocketsphinx-testdata not installed\n");
        return -1;
    }
    veil_http_server_config sc = {.address = "127.0.0.1",
                                  .handler = up_handler,
                                  .max_body = 32u << 20,
                                  .stop_grace_ms = 3000};
    if (!veil_ok(veil_http_server_start(&sc, &F.srv)))
        return -1;
    F.port = veil_http_server_port(F.srv);
    char base[64], inference[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/v1", F.port);
    snprintf(inference, sizeof inference, "http://127.0.0.1:%u/inference", F.port);
    const veil_app_model models[] = {
        {VEIL_APP_STT_MODEL, VEIL_APP_BACKEND_POCKETSPHINX, NULL, NULL, NULL},
        {"gw-stream", VEIL_APP_BACKEND_OPENAI, base, "up-stream", NULL},
        {"gw-break", VEIL_APP_BACKEND_OPENAI, base, "up-break", NULL},
        {"gw-json", VEIL_APP_BACKEND_OPENAI, base, "up-json", "sk-test"},
        {"gw-500", VEIL_APP_BACKEND_OPENAI, base, "up-500", NULL},
        {"gw-400", VEIL_APP_BACKEND_OPENAI, base, "up-400", NULL},
        {"gw-slow", VEIL_APP_BACKEND_OPENAI, base, "up-slow", NULL},
        {"gw-down", VEIL_APP_BACKEND_OPENAI, "http://127.0.0.1:1/v1", NULL, NULL},
        {"gw-whisper", VEIL_APP_BACKEND_WHISPER_CPP, inference, NULL, NULL},
        {"gw-stt", VEIL_APP_BACKEND_OPENAI, base, "up-stt", NULL},
    };
    veil_app_config cfg = {.models = models,
                           .n_models = sizeof models / sizeof models[0],
                           .max_body = 4u << 20,
                           .max_audio_seconds = 60};
    veil_result r = veil_app_new(&cfg, &F.app);
    if (!veil_ok(r)) {
        fprintf(stderr, "app_test: veil_app_new: %s\n", r.msg);
        return -1;
    }
    veil_app_config fast = {.models = models + 1,
                            .n_models = sizeof models / sizeof models[0] - 1,
                            .upstream_timeout_ms = 500};
    if (!veil_ok(veil_app_new(&fast, &F.fast)))
        return -1;
    /* The direct decoder: the same model files, nothing else. */
    F.ps_cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", VEIL_APP_PS_HMM, "-lm", VEIL_APP_PS_LM,
                           "-dict", VEIL_APP_PS_DICT, NULL);
    F.ps = F.ps_cfg ? ps_init(F.ps_cfg) : NULL;
    return F.ps ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    veil_app_free(F.app);
    veil_app_free(F.fast);
    veil_http_server_stop(F.srv);
    if (F.ps)
        ps_free(F.ps);
    if (F.ps_cfg)
        cmd_ln_free_r(F.ps_cfg);
    for (size_t i = 0; i < N_LIBRIVOX; i++) {
        veil_free(F.direct[i]);
        veil_free(F.via_app[i]);
    }
    veil_pcm_free(&U.last_wav);
    return 0;
}

/* Direct and app results for every LibriVox file, computed once: the
 * direct decoder works through the files on a helper thread while the app
 * transcribes them on this one. */
typedef struct all_direct {
    int16_t *s[N_LIBRIVOX];
    size_t n[N_LIBRIVOX];
} all_direct;

static void *all_direct_main(void *arg)
{
    all_direct *a = arg;
    for (size_t i = 0; i < N_LIBRIVOX; i++)
        F.direct[i] = direct_hyp_raw(a->s[i], a->n[i]);
    return NULL;
}

static void librivox_results(void)
{
    if (F.direct[0])
        return;
    all_direct a;
    pthread_t t;
    for (size_t i = 0; i < N_LIBRIVOX; i++)
        a.s[i] = wav_samples(librivox[i], &a.n[i]);
    assert_int_equal(pthread_create(&t, NULL, all_direct_main, &a), 0);
    for (size_t i = 0; i < N_LIBRIVOX; i++) {
        size_t len;
        uint8_t *wav = read_wav(librivox[i], &len);
        F.via_app[i] = app_transcribe(wav, len, "speech.wav", NULL, NULL);
        veil_free(wav);
    }
    pthread_join(t, NULL);
    for (size_t i = 0; i < N_LIBRIVOX; i++) {
        assert_non_null(F.direct[i]);
        veil_free(a.s[i]);
    }
}

/* ---- audio made here with libsndfile and soxr ---------------------------------------- */

/* Write frames (interleaved float) with libsndfile to a temp file; return its bytes. */
static uint8_t *encode(const float *x, size_t frames, int rate, int ch, int format, size_t *len)
{
    char path[] = "/tmp/veil-app-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    SF_INFO info = {.samplerate = rate, .channels = ch, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf)
        fail_msg("libsndfile cannot write format 0x%x: %s", format, sf_strerror(NULL));
    if ((format & SF_FORMAT_TYPEMASK) == SF_FORMAT_OGG) {
        double q = 0.1; /* 0 is the best Vorbis quality */
        sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &q, sizeof q);
    }
    assert_int_equal(sf_writef_float(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    sf_close(sf);
    uint8_t *p = read_file(path, len);
    unlink(path);
    assert_non_null(p);
    return p;
}

static float *to_float(const int16_t *s, size_t n)
{
    float *x = veil_calloc(n, sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)s[i] / 32768.0f;
    return x;
}

/* 16 kHz mono -> 44.1 kHz stereo (the same signal in both channels). */
static float *to_44k_stereo(const float *x, size_t n, size_t *frames)
{
    size_t olen = n * 44100 / 16000 + 1024, odone = 0;
    float *mono = veil_calloc(olen, sizeof *mono);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    assert_null(soxr_oneshot(16000, 44100, 1, x, n, NULL, mono, olen, &odone, &io, &q, NULL));
    float *st = veil_calloc(2 * odone, sizeof *st);
    for (size_t i = 0; i < odone; i++)
        st[2 * i] = st[2 * i + 1] = mono[i] * 0.9f; /* headroom for the filter's ripple */
    veil_free(mono);
    *frames = odone;
    return st;
}

/* Signal-to-noise ratio (dB) of b against a, scaled by gain. */
static double snr_db(const int16_t *a, size_t na, const int16_t *b, size_t nb, double gain)
{
    double sig = 0, err = 0;
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        double x = a[i] * gain, d = x - b[i];
        sig += x * x;
        err += d * d;
    }
    return 10.0 * log10(sig / (err > 0 ? err : 1e-9));
}

/* ---- speech-to-text tests ------------------------------------------------------------ */

static void test_wav_equals_direct(void **state)
{
    (void)state;
    size_t n, len;
    int16_t *s = wav_samples(SAMPLE, &n);
    uint8_t *wav = read_wav(SAMPLE, &len);
    veil_pcm pcm;
    tu_ok(veil_audio_decode(wav, len, 60, &pcm));
    tu_assert_bytes((const uint8_t *)pcm.s, pcm.n * 2, (const uint8_t *)s, n * 2);
    veil_pcm_free(&pcm);
    librivox_results();
    printf("    direct: %s\n    app:    %s\n", F.direct[0], F.via_app[0]);
    assert_true(strlen(F.direct[0]) > 40);
    assert_string_equal(F.via_app[0], F.direct[0]);
    veil_free(s);
    veil_free(wav);
}

static void test_flac_ogg_44k_equal_direct(void **state)
{
    (void)state;
    size_t n, frames;
    int16_t *s = wav_samples(SAMPLE, &n);
    float *x = to_float(s, n);
    float *st = to_44k_stereo(x, n, &frames);
    librivox_results();
    static const struct {
        const char *name, *filename;
        int rate, ch, format;
        double min_snr;
    } cases[] = {
        {"FLAC 16 kHz mono", "a.flac", 16000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1e9},
        {"FLAC 44.1 kHz stereo", "a.flac", 44100, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 30},
        {"Ogg Vorbis 44.1 kHz stereo", "a.oga", 44100, 2, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        bool hi = cases[i].rate == 44100;
        uint8_t *file =
            encode(hi ? st : x, hi ? frames : n, cases[i].rate, cases[i].ch, cases[i].format, &len);
        veil_pcm pcm;
        tu_ok(veil_audio_decode(file, len, 60, &pcm));
        double snr = snr_db(s, n, pcm.s, pcm.n, hi ? 0.9 : 1.0);
        /* "the same audio": what the app decodes, given to pocketsphinx directly */
        bool lossless = cases[i].min_snr > 1e8;
        direct_job job;
        if (lossless) /* at 16 kHz: bit-exact, so the WAV's direct result applies */
            tu_assert_bytes((const uint8_t *)pcm.s, pcm.n * 2, (const uint8_t *)s, n * 2);
        else
            direct_start(&job, pcm.s, pcm.n);
        char *via = app_transcribe(file, len, cases[i].filename, "whisper-1", "json");
        char *direct = lossless ? NULL : direct_join(&job);
        const char *want = direct ? direct : F.direct[0];
        printf("    %-27s %6zu bytes, %zu samples, SNR %5.1f dB: %s%s\n", cases[i].name, len, pcm.n,
               snr, via, strcmp(via, F.direct[0]) ? "  (differs from the WAV's)" : "");
        assert_true(pcm.n > n - 200 && pcm.n < n + 200);
        assert_true(snr >= cases[i].min_snr || cases[i].min_snr > 1e8);
        assert_string_equal(via, want);
        veil_free(direct);
        veil_free(via);
        veil_pcm_free(&pcm);
        veil_free(file);
    }
    veil_free(st);
    veil_free(x);
    veil_free(s);
}

static void test_mp3_and_wav_variants(void **state)
{
    (void)state;
    size_t n, len;
    int16_t *s = wav_samples(SHORT, &n);
    float *x = to_float(s, n);
    veil_pcm pcm;
    /* MP3 (libsndfile 1.2 reads and writes MPEG through mpg123/LAME) */
    uint8_t *mp3 = encode(x, n, 16000, 1, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, &len);
    tu_ok(veil_audio_decode(mp3, len, 60, &pcm));
    printf("    MP3 %zu bytes -> %zu samples (%zu in)\n", len, pcm.n, n);
    assert_true(pcm.n + 2000 > n && pcm.n < n + 4000); /* encoder padding */
    veil_pcm_free(&pcm);
    veil_free(mp3);
    /* 24-bit and float WAV at 16 kHz decode to the same int16 samples */
    static const int formats[] = {SF_FORMAT_WAV | SF_FORMAT_PCM_24, SF_FORMAT_WAV | SF_FORMAT_FLOAT,
                                  SF_FORMAT_AIFF | SF_FORMAT_PCM_16};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        uint8_t *w = encode(x, n, 16000, 1, formats[i], &len);
        tu_ok(veil_audio_decode(w, len, 60, &pcm));
        tu_assert_bytes((const uint8_t *)pcm.s, pcm.n * 2, (const uint8_t *)s, n * 2);
        veil_pcm_free(&pcm);
        veil_free(w);
    }
    /* 8 kHz mono upsampled */
    uint8_t *w8 = NULL;
    {
        size_t olen = n / 2 + 64, odone = 0;
        float *y = veil_calloc(olen, sizeof *y);
        assert_null(soxr_oneshot(16000, 8000, 1, x, n, NULL, y, olen, &odone, NULL, NULL, NULL));
        w8 = encode(y, odone, 8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16, &len);
        veil_free(y);
    }
    tu_ok(veil_audio_decode(w8, len, 60, &pcm));
    assert_true(pcm.n > n - 100 && pcm.n < n + 100);
    veil_pcm_free(&pcm);
    veil_free(w8);
    veil_free(x);
    veil_free(s);
}

static void test_response_formats(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wav = read_wav(SHORT, &len);
    librivox_results();
    const char *hyp = F.direct[1];

    char *text = app_transcribe(wav, len, "short.wav", VEIL_APP_STT_MODEL, "text");
    assert_int_equal(strlen(text), strlen(hyp) + 1);
    assert_memory_equal(text, hyp, strlen(hyp));
    assert_int_equal(text[strlen(hyp)], '\n');
    veil_free(text);

    form f;
    capture c;
    form_init(&f);
    capture_init(&c);
    form_add(&f, "file", "short.wav", wav, len);
    form_text(&f, "response_format", "verbose_json");
    form_text(&f, "language", "en");
    json_t *j = answered(F.app, form_request(&f), &c, 200);
    assert_string_equal(json_string_value(json_object_get(j, "task")), "transcribe");
    assert_string_equal(json_string_value(json_object_get(j, "language")), "english");
    assert_string_equal(json_string_value(json_object_get(j, "text")), hyp);
    double dur = json_real_value(json_object_get(j, "duration"));
    assert_true(dur > 2.9 && dur < 3.1);
    json_t *segs = json_object_get(j, "segments"), *words = json_object_get(j, "words");
    assert_true(json_array_size(segs) >= 1);
    veil_buf joined;
    veil_buf_init(&joined, 0);
    double last = 0;
    size_t i;
    json_t *seg;
    json_array_foreach (segs, i, seg) {
        assert_int_equal(json_integer_value(json_object_get(seg, "id")), (json_int_t)i);
        double s0 = json_real_value(json_object_get(seg, "start"));
        double s1 = json_real_value(json_object_get(seg, "end"));
        assert_true(s0 >= last && s1 > s0 && s1 <= dur + 0.05);
        last = s1;
        const char *t = json_string_value(json_object_get(seg, "text"));
        if (i)
            tu_ok(veil_buf_u8(&joined, ' '));
        tu_ok(veil_buf_append(&joined, t, strlen(t)));
    }
    tu_assert_bytes(joined.data, joined.len, (const uint8_t *)hyp, strlen(hyp));
    size_t nwords = 1;
    for (const char *p = hyp; *p; p++)
        nwords += *p == ' ';
    assert_int_equal(json_array_size(words), nwords);
    printf("    verbose_json: %zu segments, %zu words, %.2f s\n", json_array_size(segs), nwords,
           dur);
    veil_buf_free(&joined);
    json_decref(j);
    veil_buf_free(&c.body);
    veil_free(wav);
}

/* Word error rate: (substitutions + deletions + insertions) / reference words. */
static size_t split(char *s, char **w, size_t cap)
{
    size_t n = 0;
    for (char *t = strtok(s, " \n"); t && n < cap; t = strtok(NULL, " \n"))
        if (strcmp(t, "<s>") && strcmp(t, "</s>") && t[0] != '(')
            w[n++] = t;
    return n;
}

static size_t edit_distance(char **a, size_t na, char **b, size_t nb)
{
    size_t *d = veil_calloc((na + 1) * (nb + 1), sizeof *d);
    for (size_t i = 0; i <= na; i++)
        d[i * (nb + 1)] = i;
    for (size_t k = 0; k <= nb; k++)
        d[k] = k;
    for (size_t i = 1; i <= na; i++)
        for (size_t k = 1; k <= nb; k++) {
            size_t sub = d[(i - 1) * (nb + 1) + k - 1] + (strcmp(a[i - 1], b[k - 1]) != 0);
            size_t del = d[(i - 1) * (nb + 1) + k] + 1, ins = d[i * (nb + 1) + k - 1] + 1;
            size_t m = sub < del ? sub : del;
            d[i * (nb + 1) + k] = m < ins ? m : ins;
        }
    size_t r = d[na * (nb + 1) + nb];
    veil_free(d);
    return r;
}

static void test_wer_librivox(void **state)
{
    (void)state;
    size_t tlen;
    char *refs = (char *)read_file(LIBRIVOX "/transcription", &tlen);
    assert_non_null(refs);
    size_t ref_words = 0, err_direct = 0, err_app = 0;
    char *save = NULL;
    char *line = strtok_r(refs, "\n", &save);
    for (size_t i = 0; i < N_LIBRIVOX; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        assert_non_null(strstr(line, librivox[i])); /* the file's order */

        char *rw[64], *dw[64], *aw[64];
        char *d = strdup(F.direct[i]), *a = strdup(F.via_app[i]);
        size_t nr = split(line, rw, 64), nd = split(d, dw, 64), na = split(a, aw, 64);
        size_t ed = edit_distance(rw, nr, dw, nd), ea = edit_distance(rw, nr, aw, na);
        printf("    %s: %zu words, %zu errors direct, %zu via the app\n", librivox[i] + 32, nr, ed,
               ea);
        ref_words += nr;
        err_direct += ed;
        err_app += ea;
        assert_string_equal(F.via_app[i], F.direct[i]);
        free(d);
        free(a);
    }
    double wer_d = 100.0 * (double)err_direct / (double)ref_words;
    double wer_a = 100.0 * (double)err_app / (double)ref_words;
    printf("    WER over %zu LibriVox files (%zu words): direct pocketsphinx %.1f%%, "
           "veil_app_handle %.1f%%\n",
           N_LIBRIVOX, ref_words, wer_d, wer_a);
    assert_int_equal(err_app, err_direct);
    assert_true(wer_d < 50.0);
    veil_free(refs);
}

/* Two transcriptions at once share the one decoder: the second waits for it
 * (the pool's mutex and condition variable) and both get the right text. */
typedef struct concurrent {
    pthread_t t;
    veil_bhttp_msg *rq;
    capture c;
    veil_result r;
} concurrent;

static void *concurrent_main(void *arg)
{
    concurrent *k = arg;
    veil_app_writer w = {cap_head, cap_body, cap_end, &k->c};
    k->r = veil_app_handle(F.app, k->rq, &w);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wav = read_wav(SHORT, &len);
    librivox_results();
    concurrent k[2];
    for (size_t i = 0; i < 2; i++) {
        form f;
        form_init(&f);
        form_add(&f, "file", "short.wav", wav, len);
        form_text(&f, "response_format", "text");
        k[i].rq = form_request(&f);
        capture_init(&k[i].c);
        assert_int_equal(pthread_create(&k[i].t, NULL, concurrent_main, &k[i]), 0);
    }
    for (size_t i = 0; i < 2; i++) {
        pthread_join(k[i].t, NULL);
        tu_ok(k[i].r);
        assert_int_equal(k[i].c.status, 200);
        assert_int_equal(k[i].c.ends, 1);
        assert_int_equal(k[i].c.body.len, strlen(F.direct[1]) + 1);
        assert_memory_equal(k[i].c.body.data, F.direct[1], strlen(F.direct[1]));
        veil_buf_free(&k[i].c.body);
        veil_bhttp_msg_free(k[i].rq);
    }
    veil_free(wav);
}

/* ---- upstream backends ------------------------------------------------------------------ */

static void test_chat_stream_handshake(void **state)
{
    (void)state;
    pthread_mutex_lock(&U.mu);
    U.delivered = U.produced = 0;
    U.handshake_failed = false;
    pthread_mutex_unlock(&U.mu);
    static const char body[] =
        "{\"model\":\"gw-stream\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"secret prompt\"}]}";
    capture c;
    capture_init(&c);
    c.stream = true;
    tu_ok(handle(F.app,
                 request("POST", "/v1/chat/completions", "application/json", body, sizeof body - 1),
                 &c));
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.ends, 1);
    assert_int_equal(c.status, 200);
    assert_string_equal(c.ctype, "text/event-stream");
    assert_string_equal(c.cache, "no-cache");
    assert_int_equal(c.bodies, N_STREAM + 1); /* one writer call per event */
    assert_true(c.events_ok);
    pthread_mutex_lock(&U.mu);
    assert_false(U.handshake_failed);
    assert_int_equal(U.produced, N_STREAM + 1);
    assert_string_equal(U.last_model, "up-stream"); /* renamed for the upstream */
    assert_string_equal(U.last_auth, "");
    pthread_mutex_unlock(&U.mu);
    const char *tail = "data: [DONE]\n\n";
    assert_string_equal((char *)c.body.data + c.body.len - strlen(tail), tail);
    assert_non_null(strstr((char *)c.body.data, "\"w0 \""));
    veil_buf_free(&c.body);
}

static void test_chat_relay(void **state)
{
    (void)state;
    static const char body[] = "{\"model\":\"gw-json\",\"messages\":[{\"role\":\"user\","
                               "\"content\":\"hi\"}]}";
    capture c;
    capture_init(&c);
    json_t *j = answered(
        F.app, request("POST", "/v1/chat/completions", NULL, body, sizeof body - 1), &c, 200);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"),
            "content")),
        "ok");
    pthread_mutex_lock(&U.mu);
    assert_string_equal(U.last_model, "up-json");
    assert_string_equal(U.last_auth, "Bearer sk-test");
    pthread_mutex_unlock(&U.mu);
    json_decref(j);
    veil_buf_free(&c.body);

    /* an upstream 4xx passes through; a 5xx becomes 502 without its body */
    static const char b400[] = "{\"model\":\"gw-400\",\"messages\":[1]}";
    expect_error(F.app,
                 request("POST", "/v1/chat/completions", "application/json", b400, sizeof b400 - 1),
                 400, "upstream_says_no");
    static const char b500[] = "{\"model\":\"gw-500\",\"messages\":[1]}";
    expect_error(F.app,
                 request("POST", "/v1/chat/completions", "application/json", b500, sizeof b500 - 1),
                 502, "upstream_error");
    static const char bdown[] = "{\"model\":\"gw-down\",\"messages\":[1]}";
    expect_error(
        F.app, request("POST", "/v1/chat/completions", "application/json", bdown, sizeof bdown - 1),
        502, "upstream_unreachable");
    static const char bslow[] = "{\"model\":\"gw-slow\",\"messages\":[1]}";
    expect_error(
        F.fast,
        request("POST", "/v1/chat/completions", "application/json", bslow, sizeof bslow - 1), 504,
        "upstream_timeout");

    /* a stream that breaks after its head: the app reports it, never ends */
    static const char bbreak[] = "{\"model\":\"gw-break\",\"stream\":true,\"messages\":[1]}";
    pthread_mutex_lock(&U.mu);
    U.delivered = 0;
    pthread_mutex_unlock(&U.mu);
    capture_init(&c);
    c.stream = true;
    veil_result r = handle(
        F.app,
        request("POST", "/v1/chat/completions", "application/json", bbreak, sizeof bbreak - 1), &c);
    assert_false(veil_ok(r));
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.ends, 0);
    assert_int_equal(c.bodies, 2);
    veil_buf_free(&c.body);
}

static void test_transcription_upstreams(void **state)
{
    (void)state;
    size_t len;
    uint8_t *wav = read_wav(SHORT, &len);
    /* whisper.cpp: gets 16 kHz mono WAV of the decoded audio, answers json */
    char *t = app_transcribe(wav, len, "short.wav", "gw-whisper", NULL);
    assert_string_equal(t, "hello world");
    veil_free(t);
    pthread_mutex_lock(&U.mu);
    assert_string_equal(U.last_fields, "file,response_format");
    veil_pcm pcm;
    tu_ok(veil_audio_decode(wav, len, 60, &pcm));
    tu_assert_bytes((const uint8_t *)U.last_wav.s, U.last_wav.n * 2, (const uint8_t *)pcm.s,
                    pcm.n * 2);
    veil_pcm_free(&pcm);
    pthread_mutex_unlock(&U.mu);
    t = app_transcribe(wav, len, "short.wav", "gw-whisper", "text");
    assert_string_equal(t, "hello world\n");
    veil_free(t);
    form f;
    capture c;
    form_init(&f);
    capture_init(&c);
    form_add(&f, "file", "short.wav", wav, len);
    form_text(&f, "model", "gw-whisper");
    form_text(&f, "response_format", "verbose_json");
    json_t *j = answered(F.app, form_request(&f), &c, 200); /* whisper.cpp's, relayed */
    assert_string_equal(json_string_value(json_object_get(j, "task")), "transcribe");
    json_decref(j);
    veil_buf_free(&c.body);

    /* OpenAI upstream: the original file and fields, its model name */
    form_init(&f);
    capture_init(&c);
    form_add(&f, "file", "short.wav", wav, len);
    form_text(&f, "model", "gw-stt");
    form_text(&f, "prompt", "Austen");
    j = answered(F.app, form_request(&f), &c, 200);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "upstream says hi");
    pthread_mutex_lock(&U.mu);
    assert_string_equal(U.last_model, "up-stt");
    assert_string_equal(U.last_fields, "file,prompt,model");
    assert_int_equal(U.last_file_len, len);
    pthread_mutex_unlock(&U.mu);
    json_decref(j);
    veil_buf_free(&c.body);
    veil_free(wav);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static veil_bhttp_msg *stt_req(const void *file, size_t n, const char *model, const char *lang,
                               const char *fmt)
{
    form f;
    form_init(&f);
    if (file)
        form_add(&f, "file", "x.wav", file, n);
    if (model)
        form_text(&f, "model", model);
    if (lang)
        form_text(&f, "language", lang);
    if (fmt)
        form_text(&f, "response_format", fmt);
    return form_request(&f);
}

static uint8_t *silence_wav(double seconds, size_t *len)
{
    size_t n = (size_t)(seconds * 16000);
    float *x = veil_calloc(n ? n : 1, sizeof *x);
    uint8_t *w = encode(x, n, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16, len);
    veil_free(x);
    return w;
}

static void test_errors(void **state)
{
    (void)state;
    capture c;
    /* routes and methods */
    expect_error(F.app, request("GET", "/v1/nope", NULL, NULL, 0), 404, "unknown_url");
    expect_error(F.app, request("GET", "/", NULL, NULL, 0), 404, "unknown_url");
    capture_init(&c);
    json_decref(
        answered(F.app, request("GET", "/v1/audio/transcriptions", NULL, NULL, 0), &c, 405));
    assert_string_equal(c.allow, "POST");
    veil_buf_free(&c.body);
    expect_error(F.app, request("DELETE", "/v1/models", NULL, NULL, 0), 405, "method_not_allowed");

    /* transcription requests */
    static const char junk[] = "this is not audio, just some bytes that no decoder knows";
    expect_error(F.app, request("POST", "/v1/audio/transcriptions", "application/json", "{}", 2),
                 415, "unsupported_media_type");
    expect_error(F.app, request("POST", "/v1/audio/transcriptions", NULL, "{}", 2), 415,
                 "unsupported_media_type");
    static const char badform[] = "--" BOUNDARY "\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
                                  "--" BOUNDARY "--";
    expect_error(F.app,
                 request("POST", "/v1/audio/transcriptions",
                         "multipart/form-data; boundary=" BOUNDARY, badform, sizeof badform - 1),
                 400, "invalid_multipart");
    expect_error(F.app,
                 request("POST", "/v1/audio/transcriptions",
                         "multipart/form-data; boundary=" BOUNDARY, "garbage", 7),
                 400, "invalid_multipart");
    expect_error(F.app, request("POST", "/v1/audio/transcriptions", "multipart/form-data", "x", 1),
                 400, "invalid_multipart");
    expect_error(F.app, stt_req(NULL, 0, "whisper-1", NULL, NULL), 400, "invalid_request");
    expect_error(F.app, stt_req(junk, sizeof junk, "no-such-model", NULL, NULL), 404,
                 "model_not_found");
    expect_error(F.app, stt_req(junk, sizeof junk, NULL, NULL, NULL), 415, "unsupported_audio");
    expect_error(F.app, stt_req("", 0, NULL, NULL, NULL), 400, "invalid_audio");
    expect_error(F.app, stt_req(junk, sizeof junk, NULL, "fr", NULL), 400, "invalid_request");
    expect_error(F.app, stt_req(junk, sizeof junk, NULL, NULL, "srt"), 400, "invalid_request");
    size_t len;
    uint8_t *w = silence_wav(0, &len); /* a valid WAV without samples */
    expect_error(F.app, stt_req(w, len, NULL, NULL, NULL), 400, "invalid_audio");
    veil_free(w);
    w = silence_wav(61, &len); /* over max_audio_seconds = 60 */
    expect_error(F.app, stt_req(w, len, NULL, NULL, NULL), 413, "audio_too_long");
    veil_free(w);
    /* truncated WAV: what is there decodes */
    size_t wl;
    uint8_t *wav = read_wav(SHORT, &wl);
    uint8_t *big = veil_calloc(5u << 20, 1);
    memcpy(big, wav, wl);
    expect_error(F.app, stt_req(big, 5u << 20, NULL, NULL, NULL), 413, "request_too_large");
    veil_free(big);
    veil_free(wav);

    /* chat requests */
    expect_error(F.app, request("POST", "/v1/chat/completions", "application/json", "{", 1), 400,
                 "invalid_json");
    expect_error(F.app, request("POST", "/v1/chat/completions", "application/json", "[]", 2), 400,
                 "invalid_json");
    expect_error(F.app, request("POST", "/v1/chat/completions", "text/plain", "{}", 2), 415,
                 "unsupported_media_type");
    static const char nomodel[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    expect_error(
        F.app,
        request("POST", "/v1/chat/completions", "application/json", nomodel, sizeof nomodel - 1),
        400, "invalid_request");
    static const char nomsg[] = "{\"model\":\"gw-json\"}";
    expect_error(
        F.app, request("POST", "/v1/chat/completions", "application/json", nomsg, sizeof nomsg - 1),
        400, "invalid_request");
    static const char unknown[] = "{\"model\":\"gpt-9\",\"messages\":[1]}";
    expect_error(
        F.app,
        request("POST", "/v1/chat/completions", "application/json", unknown, sizeof unknown - 1),
        404, "model_not_found");
    static const char stt[] = "{\"model\":\"pocketsphinx-en-us\",\"messages\":[1]}";
    expect_error(F.app,
                 request("POST", "/v1/chat/completions", "application/json", stt, sizeof stt - 1),
                 400, "model_not_supported");
    static const char badstream[] = "{\"model\":\"gw-json\",\"messages\":[1],\"stream\":\"yes\"}";
    expect_error(F.app,
                 request("POST", "/v1/chat/completions", "application/json", badstream,
                         sizeof badstream - 1),
                 400, "invalid_request");

    /* the writer's failure is returned */
    capture_init(&c);
    c.fail_body = true;
    veil_result r = handle(F.app, request("GET", "/v1/models", NULL, NULL, 0), &c);
    assert_false(veil_ok(r));
    assert_string_equal(r.msg, "test: writer refuses");
    assert_int_equal(c.ends, 0);
    veil_buf_free(&c.body);
}

static void test_models(void **state)
{
    (void)state;
    capture c;
    capture_init(&c);
    json_t *j = answered(F.app, request("GET", "/v1/models?x=1", NULL, NULL, 0), &c, 200);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 11); /* ten configured + whisper-1 */
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")),
                        VEIL_APP_STT_MODEL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 10), "id")),
                        VEIL_APP_WHISPER_ALIAS);
    json_decref(j);
    veil_buf_free(&c.body);
    capture_init(&c);
    j = answered(F.app, request("GET", "/v1/models/whisper-1", NULL, NULL, 0), &c, 200);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "model");
    json_decref(j);
    veil_buf_free(&c.body);
    expect_error(F.app, request("GET", "/v1/models/nope", NULL, NULL, 0), 404, "model_not_found");
    expect_error(F.app, request("GET", "/v1/models/a/b", NULL, NULL, 0), 404, "model_not_found");
}

static void test_config_errors(void **state)
{
    (void)state;
    veil_app *a = NULL;
    static const struct {
        veil_app_model m[2];
        size_t n;
        const char *dflt;
    } bad[] = {
        {{{"x", VEIL_APP_BACKEND_OPENAI, "http://10.0.0.1:8080/v1", NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_OPENAI, "https://api.openai.com/v1", NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_OPENAI, "http://127.0.0.1.evil.com/v1", NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_OPENAI, NULL, NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_WHISPER_CPP, "not a url", NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_POCKETSPHINX, "http://127.0.0.1/", NULL, NULL}}, 1, NULL},
        {{{"", VEIL_APP_BACKEND_POCKETSPHINX, NULL, NULL, NULL}}, 1, NULL},
        {{{"x", (veil_app_backend)9, NULL, NULL, NULL}}, 1, NULL},
        {{{"x", VEIL_APP_BACKEND_OPENAI, "http://[::1]:1/v1", NULL, NULL},
          {"x", VEIL_APP_BACKEND_OPENAI, "http://localhost:1/v1", NULL, NULL}},
         2,
         NULL},
        {{{"x", VEIL_APP_BACKEND_OPENAI, "http://127.0.0.1:1/v1", NULL, NULL}}, 1, "y"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_app_config cfg = {
            .models = bad[i].m, .n_models = bad[i].n, .default_transcription_model = bad[i].dflt};
        veil_result r = veil_app_new(&cfg, &a);
        if (veil_ok(r))
            fail_msg("accepted bad config #%zu", i);
        assert_int_equal(r.cls, VEIL_E_USAGE);
        assert_null(a);
    }
    /* loopback upstreams without an embedded engine load nothing */
    veil_app_model ok[] = {
        {"x", VEIL_APP_BACKEND_OPENAI, "http://[::1]:1/v1/", NULL, NULL},
        {"y", VEIL_APP_BACKEND_WHISPER_CPP, "http://localhost:2/inference", NULL, NULL}};
    veil_app_config cfg = {.models = ok, .n_models = 2, .default_transcription_model = "y"};
    tu_ok(veil_app_new(&cfg, &a));
    veil_app_free(a);
    veil_app_model ps = {VEIL_APP_STT_MODEL, VEIL_APP_BACKEND_POCKETSPHINX, NULL, NULL, NULL};
    veil_app_config missing = {.models = &ps, .n_models = 1, .ps_lm = "/nonexistent.lm.bin"};
    veil_result r = veil_app_new(&missing, &a);
    assert_string_equal(r.msg, "stt: cannot read the language model file (lm)");
    assert_null(a);
    assert_false(veil_ok(veil_app_new(NULL, &a)));
    veil_app_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_equals_direct),
        cmocka_unit_test(test_flac_ogg_44k_equal_direct),
        cmocka_unit_test(test_mp3_and_wav_variants),
        cmocka_unit_test(test_response_formats),
        cmocka_unit_test(test_wer_librivox),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_chat_stream_handshake),
        cmocka_unit_test(test_chat_relay),
        cmocka_unit_test(test_transcription_upstreams),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
