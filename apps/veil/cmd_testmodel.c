/* veil testmodel: an OpenAI-compatible chat server for tests and benchmarks.
 * It runs no model: it streams canned or echoed words, so the gateway's
 * relaying, streaming and overhead can be measured without a GPU.
 *
 *   veil testmodel --listen ADDR:PORT [--delay-ms N] [--tokens N] [--max-connections N]
 *                  [--json]
 *
 * Models:
 *   veil-test      a fixed reply of --tokens words
 *   veil-echo      the last user message, word by word
 *   veil-echo-1k   exactly 1 KiB of content, in 16 pieces of 64 bytes
 * POST /v1/chat/completions answers in one JSON document, or with
 * "stream": true as server-sent events: a role chunk, one chunk per word
 * (each after --delay-ms), a finish chunk and "data: [DONE]". GET /v1/models
 * lists the three. Runs until SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "veil/http.h"
#include "veil/mem.h"

#define ECHO_1K_PIECE 64
#define ECHO_1K_PIECES 16

static const char *const fixed_reply[] = {
    "Confidential", "inference",   "keeps",  "the", "prompt",   "and",
    "the",          "answer",      "inside", "an",  "attested", "trusted",
    "execution",    "environment", "from",   "end", "to",       "end."};

typedef struct server_ctx {
    unsigned delay_ms;
    unsigned tokens;
    atomic_bool stopping;
    atomic_ulong next_id;
} server_ctx;

/* One answer: its pieces (each a "content" string) and how far it got. */
typedef struct answer {
    server_ctx *srv;
    char model[64];
    unsigned long id;
    char **piece;
    size_t n, cap, next; /* next piece to send */
    int stage;           /* 0 role chunk, 1 pieces, 2 finish chunk, 3 [DONE], 4 end */
    veil_buf event;      /* the event being sent */
    size_t event_off;
} answer;

static void answer_free(void *p)
{
    answer *a = p;
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        veil_free_wiped(a->piece[i], strlen(a->piece[i]) + 1);
    veil_free(a->piece);
    veil_buf_free(&a->event);
    veil_free(a);
}

static int add_piece(answer *a, const char *s, size_t n)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 32;
        char **v = veil_calloc(cap, sizeof *v);
        if (!v)
            return -1;
        if (a->n)
            memcpy(v, a->piece, a->n * sizeof *v);
        veil_free(a->piece);
        a->piece = v;
        a->cap = cap;
    }
    char *c = veil_calloc(n + 1, 1);
    if (!c)
        return -1;
    memcpy(c, s, n);
    a->piece[a->n++] = c;
    return 0;
}

/* Words of s, each after the first with its leading space (as tokenizers do). */
static int add_words(answer *a, const char *s)
{
    char buf[256];
    while (*s) {
        while (*s == ' ' || *s == '\n' || *s == '\t')
            s++;
        size_t n = strcspn(s, " \n\t");
        if (!n)
            break;
        size_t off = a->n ? 1 : 0;
        size_t take = n < sizeof buf - 1 - off ? n : sizeof buf - 1 - off;
        buf[0] = ' ';
        memcpy(buf + off, s, take);
        if (add_piece(a, buf, take + off) != 0)
            return -1;
        s += n;
    }
    return 0;
}

static const char *last_user_text(json_t *messages)
{
    const char *text = NULL;
    size_t i;
    json_t *m;
    json_array_foreach (messages, i, m) {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (json_is_string(role) && strcmp(json_string_value(role), "user") == 0 &&
            json_is_string(content))
            text = json_string_value(content);
    }
    return text;
}

/* Fill the answer's pieces for the model; NULL model = unknown. */
static int plan(answer *a, server_ctx *srv, const char *model, json_t *messages)
{
    if (strcmp(model, "veil-test") == 0) {
        size_t nw = sizeof fixed_reply / sizeof fixed_reply[0];
        for (unsigned i = 0; i < srv->tokens; i++) {
            char buf[64];
            int n = snprintf(buf, sizeof buf, "%s%s", i ? " " : "", fixed_reply[i % nw]);
            if (add_piece(a, buf, (size_t)n) != 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(model, "veil-echo") == 0) {
        const char *t = last_user_text(messages);
        return add_words(a, t ? t : "");
    }
    if (strcmp(model, "veil-echo-1k") == 0) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        for (size_t i = 0; i < ECHO_1K_PIECES; i++) {
            char buf[ECHO_1K_PIECE];
            for (size_t k = 0; k < sizeof buf; k++)
                buf[k] = alphabet[(i * ECHO_1K_PIECE + k) % (sizeof alphabet - 1)];
            if (add_piece(a, buf, sizeof buf) != 0)
                return -1;
        }
        return 0;
    }
    return 1;
}

static void sleep_ms(server_ctx *srv, unsigned ms)
{
    while (ms > 0 && !atomic_load(&srv->stopping)) {
        unsigned step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void answer_id(const answer *a, char id[48])
{
    snprintf(id, 48, "chatcmpl-veiltest-%lu", a->id);
}

static json_t *chunk_json(const answer *a, json_t *delta, const char *finish)
{
    char id[48];
    answer_id(a, id);
    return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s?}]}", "id", id, "object",
                     "chat.completion.chunk", "created", (json_int_t)time(NULL), "model", a->model,
                     "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

/* The next event into a->event; false at the end. */
static bool next_event(answer *a)
{
    json_t *j = NULL;
    veil_buf_clear(&a->event);
    a->event_off = 0;
    switch (a->stage) {
    case 0:
        j = chunk_json(a, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL);
        a->stage = a->n ? 1 : 2;
        break;
    case 1:
        sleep_ms(a->srv, a->srv->delay_ms);
        j = chunk_json(a, json_pack("{s:s}", "content", a->piece[a->next]), NULL);
        if (++a->next == a->n)
            a->stage = 2;
        break;
    case 2:
        j = chunk_json(a, json_object(), "stop");
        a->stage = 3;
        break;
    case 3: a->stage = 4; return veil_ok(veil_buf_append(&a->event, "data: [DONE]\n\n", 14));
    default: return false;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    bool ok = s && veil_ok(veil_buf_append(&a->event, "data: ", 6)) &&
              veil_ok(veil_buf_append(&a->event, s, strlen(s))) &&
              veil_ok(veil_buf_append(&a->event, "\n\n", 2));
    if (s)
        veil_free_wiped(s, strlen(s));
    return ok;
}

static ssize_t stream_read(void *ctx, uint8_t *buf, size_t cap)
{
    answer *a = ctx;
    if (a->event_off == a->event.len && !next_event(a))
        return a->stage == 4 ? 0 : VEIL_HTTP_STREAM_ERROR;
    if (atomic_load(&a->srv->stopping))
        return VEIL_HTTP_STREAM_ERROR;
    size_t n = a->event.len - a->event_off;
    if (n > cap)
        n = cap;
    memcpy(buf, a->event.data + a->event_off, n);
    a->event_off += n;
    return (ssize_t)n;
}

static void error_json(veil_http_response *resp, unsigned status, const char *code, const char *msg)
{
    json_t *j = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type",
                          "invalid_request_error", "param", "code", code);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s)
        veil_http_resp_set(resp, status, VEIL_HTTP_MT_JSON, s, strlen(s));
    else
        veil_http_problem(resp, 500, NULL, NULL, NULL);
    veil_free(s);
}

static void whole_answer(answer *a, veil_http_response *resp)
{
    veil_buf text;
    veil_buf_init(&text, 0);
    bool ok = true;
    for (size_t i = 0; i < a->n && ok; i++) {
        sleep_ms(a->srv, a->srv->delay_ms);
        ok = veil_ok(veil_buf_append(&text, a->piece[i], strlen(a->piece[i])));
    }
    char id[48];
    answer_id(a, id);
    json_t *j = ok ? json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s%},s:s}],s:{s:i,s:i,s:i}}", "id",
                               id, "object", "chat.completion", "created", (json_int_t)time(NULL),
                               "model", a->model, "choices", "index", 0, "message", "role",
                               "assistant", "content", text.data ? (const char *)text.data : "",
                               text.len, "finish_reason", "stop", "usage", "prompt_tokens", 0,
                               "completion_tokens", (int)a->n, "total_tokens", (int)a->n)
                   : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s)
        veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, s, strlen(s));
    else
        veil_http_problem(resp, 500, NULL, NULL, NULL);
    if (s)
        veil_free_wiped(s, strlen(s));
    veil_buf_free(&text);
}

static void chat(server_ctx *srv, veil_http_request *req, veil_http_response *resp)
{
    size_t len = 0;
    const uint8_t *body = veil_http_req_body(req, &len);
    json_t *j = body ? json_loadb((const char *)body, len, 0, NULL) : NULL;
    json_t *model = json_object_get(j, "model"), *stream = json_object_get(j, "stream");
    answer *a = NULL;
    if (!json_is_string(model) || !json_is_array(json_object_get(j, "messages"))) {
        error_json(resp, 400, "invalid_request", "expected a JSON object with model and messages");
        goto out;
    }
    a = veil_calloc(1, sizeof *a);
    if (!a) {
        veil_http_problem(resp, 500, NULL, NULL, NULL);
        goto out;
    }
    a->srv = srv;
    a->id = atomic_fetch_add(&srv->next_id, 1);
    veil_buf_init(&a->event, 0);
    snprintf(a->model, sizeof a->model, "%s", json_string_value(model));
    int p = plan(a, srv, a->model, json_object_get(j, "messages"));
    if (p != 0) {
        if (p > 0)
            error_json(resp, 404, "model_not_found", "the model does not exist");
        else
            veil_http_problem(resp, 500, NULL, NULL, NULL);
        goto out;
    }
    if (json_is_true(stream)) {
        veil_http_req_set_state(req, a, answer_free);
        veil_http_resp_header(resp, "Cache-Control", "no-cache");
        veil_http_resp_stream(resp, 200, "text/event-stream", stream_read, a);
        a = NULL; /* the request owns it */
    } else {
        whole_answer(a, resp);
    }
out:
    answer_free(a);
    json_decref(j);
}

static void models(veil_http_response *resp)
{
    static const char list[] =
        "{\"object\":\"list\",\"data\":["
        "{\"id\":\"veil-test\",\"object\":\"model\",\"created\":0,\"owned_by\":\"veil-testmodel\"},"
        "{\"id\":\"veil-echo\",\"object\":\"model\",\"created\":0,\"owned_by\":\"veil-testmodel\"},"
        "{\"id\":\"veil-echo-1k\",\"object\":\"model\",\"created\":0,"
        "\"owned_by\":\"veil-testmodel\"}]}";
    veil_http_resp_set(resp, 200, VEIL_HTTP_MT_JSON, list, sizeof list - 1);
}

static void handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    const char *m = veil_http_req_method(req), *path = veil_http_req_path(req);
    if (strcmp(path, "/v1/chat/completions") == 0 && strcmp(m, "POST") == 0)
        chat(ctx, req, resp);
    else if (strcmp(path, "/v1/models") == 0 && strcmp(m, "GET") == 0)
        models(resp);
    else
        error_json(resp, 404, "unknown_url", "unknown endpoint");
}

static void on_abort(void *ctx) { atomic_store(&((server_ctx *)ctx)->stopping, true); }

/* ---- command line ------------------------------------------------------------ */

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil testmodel --listen ADDR:PORT [--delay-ms N] [--tokens N]\n"
               "                      [--max-connections N] [--json]\n"
               "A TEST AND BENCHMARK TOOL, NOT INFERENCE: an OpenAI-compatible chat server that\n"
               "streams canned words, to exercise the gateway without a model.\n"
               "  --listen ADDR:PORT  e.g. 127.0.0.1:8080 (port 0: any free port)\n"
               "  --delay-ms N        pause before each streamed word (default 0)\n"
               "  --tokens N          words of the veil-test reply (default 16)\n"
               "  --max-connections N concurrent connections (default 64; load tests: more)\n"
               "  --json              print the ready line as JSON\n"
               "Models: veil-test (fixed reply), veil-echo (echoes the last user message),\n"
               "veil-echo-1k (1 KiB answer). Runs until SIGINT/SIGTERM.\n");
    return code;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    unsigned long p;
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return false;
    if (s[0] == '[' ? colon[-1] != ']' : memchr(s, ':', (size_t)(colon - s)) != NULL)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (!parse_uint(colon + 1, 65535, &p))
        return false;
    *port = (uint16_t)p;
    return true;
}

int cmd_testmodel(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"delay-ms", required_argument, NULL, 'd'},
                                         {"tokens", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"max-connections", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    server_ctx srv = {.delay_ms = 0, .tokens = 16};
    char host[64];
    bool have_listen = false, as_json = false;
    unsigned long v;
    veil_http_server_config cfg = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!parse_listen(optarg, host, sizeof host, &cfg.port)) {
                fprintf(stderr, "veil testmodel: bad --listen '%s'\n", optarg);
                return usage(stderr, VEIL_EXIT_USAGE);
            }
            have_listen = true;
            break;
        case 'd':
            if (!parse_uint(optarg, 600000, &v))
                return usage(stderr, VEIL_EXIT_USAGE);
            srv.delay_ms = (unsigned)v;
            break;
        case 't':
            if (!parse_uint(optarg, 100000, &v))
                return usage(stderr, VEIL_EXIT_USAGE);
            srv.tokens = (unsigned)v;
            break;
        case 'c':
            if (!parse_uint(optarg, 100000, &v) || v == 0)
                return usage(stderr, VEIL_EXIT_USAGE);
            cfg.max_connections = (unsigned)v;
            break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!have_listen || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    cfg.address = host;
    cfg.handler = handler;
    cfg.on_abort = on_abort;
    cfg.ctx = &srv;
    cfg.stop_grace_ms = 1000;
    veil_http_server *s = NULL;
    veil_result r = veil_http_server_start(&cfg, &s);
    if (!veil_ok(r)) {
        cli_error("testmodel", r);
        return cli_exit_for(r);
    }
    unsigned port = veil_http_server_port(s);
    if (as_json)
        printf("{\"event\":\"listening\",\"url\":\"http://%s:%u/v1\",\"port\":%u}\n", host, port,
               port);
    else
        printf("veil testmodel: listening on http://%s:%u/v1 (test/bench tool, not inference)\n",
               host, port);
    fflush(stdout);
    int sig;
    do {
        sig = sigwaitinfo(&set, NULL);
    } while (sig != SIGINT && sig != SIGTERM);
    atomic_store(&srv.stopping, true);
    veil_http_server_stop(s);
    return VEIL_EXIT_OK;
}
