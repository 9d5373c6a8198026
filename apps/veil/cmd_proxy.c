/* veil proxy: the OpenAI API on loopback, every request through the verified,
 * encrypted path.
 *
 *   veil proxy --listen 127.0.0.1:PORT --relay URL --gateway URL --policy FILE
 *              [--json] [--allow-remote]
 *
 * Verifies the gateway first and refuses to start (exit 1, naming the failed
 * check) when verification fails. Then every request to /v1/... becomes a
 * Binary HTTP request (method, path, content-type, body) sent through the
 * relay over OHTTP to the attested key; the answer comes back with its
 * status, content-type and body. Chat requests with "stream": true travel as
 * chunked OHTTP and their server-sent events are relayed as they arrive.
 * When the gateway no longer holds the attested key (422), the client
 * verifies again once and retries once. Clients are not thread-safe: the
 * proxy keeps a small pool of verified clients, one per request in flight. */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "veil/client.h"
#include "veil/http.h"
#include "veil/mem.h"

#define MAX_POLICY ((size_t)256 << 10)
#define MAX_BODY ((size_t)32 << 20)
#define MAX_QUEUE ((size_t)16 << 20)
#define POOL_MAX 8
#define HEAD_WAIT_S 600

typedef struct proxy {
    const char *gateway, *relay;
    char *policy;
    size_t policy_len;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    veil_client *idle[POOL_MAX];
    size_t n_idle, total;
    atomic_bool stopping;
} proxy;

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil proxy --listen 127.0.0.1:PORT --relay URL --gateway URL --policy FILE\n"
               "                  [--json] [--allow-remote]\n"
               "\n"
               "Verifies the gateway's attestation against --policy, then serves the OpenAI API\n"
               "on --listen: every request to /v1/... is sent as Binary HTTP, encrypted to the\n"
               "attested key, through the relay. \"stream\": true chat requests are relayed as\n"
               "server-sent events as they arrive (chunked OHTTP). Refuses to start when the\n"
               "verification fails. PORT 0: the OS picks (printed). Only loopback addresses\n"
               "unless --allow-remote. Runs until SIGINT/SIGTERM.\n"
               "Exit: 0 stopped, 1 verification refused, 2 usage, 3 bad input, 4 internal.\n");
    return code;
}

/* ---- verified clients ------------------------------------------------------------------ */

static veil_result client_make(proxy *p, veil_client **out, veil_client_report *rep)
{
    veil_client_opts o = {.gateway_url = p->gateway,
                          .relay_url = p->relay,
                          .policy_json = p->policy,
                          .policy_len = p->policy_len};
    veil_client *c = NULL;
    *out = NULL;
    veil_result r = veil_client_new(&o, &c);
    if (veil_ok(r))
        r = veil_client_verify(c, rep);
    if (!veil_ok(r)) {
        veil_client_free(c);
        return r;
    }
    *out = c;
    return VEIL_OK;
}

/* A verified client for one request; NULL (and *err) when none can be had. */
static veil_client *client_get(proxy *p, veil_result *err)
{
    pthread_mutex_lock(&p->mu);
    while (!p->n_idle && p->total >= POOL_MAX)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->n_idle) {
        veil_client *c = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->mu);
        return c;
    }
    p->total++;
    pthread_mutex_unlock(&p->mu);
    veil_client *c = NULL;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    *err = rep ? client_make(p, &c, rep) : VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    veil_free(rep);
    if (!c) {
        pthread_mutex_lock(&p->mu);
        p->total--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return c;
}

/* Back to the pool; a client whose verification was lost is dropped. */
static void client_put(proxy *p, veil_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&p->mu);
    if (veil_client_verified(c) && p->n_idle < POOL_MAX) {
        p->idle[p->n_idle++] = c;
        c = NULL;
    } else {
        p->total--;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    veil_client_free(c);
}

/* The gateway no longer holds the attested key (422): its keys changed. */
static bool key_changed(veil_result r)
{
    return !veil_ok(r) && r.msg && !strncmp(r.msg, "ohttp-key", 9);
}

/* Verify again after a key change; VEIL_OK when accepted. */
static veil_result reverify(veil_client *c)
{
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    if (!rep)
        return VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    veil_result r = veil_client_verify(c, rep);
    veil_free(rep);
    return r;
}

static void problem(veil_http_response *resp, unsigned status, const char *slug, const char *detail)
{
    veil_http_problem(resp, status, slug, NULL, detail);
}

/* The inner request: method, path (with the query), content-type, body. */
static veil_result build(veil_client *c, veil_http_request *req, veil_bhttp_msg **out)
{
    const char *path = veil_http_req_path(req), *query = veil_http_req_query(req);
    size_t n = 0;
    const uint8_t *body = veil_http_req_body(req, &n);
    size_t pl = strlen(path) + strlen(query) + 2;
    char *full = veil_calloc(1, pl);
    if (!full)
        return VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    snprintf(full, pl, "%s%s%s", path, *query ? "?" : "", query);
    veil_result r =
        veil_client_build_request(c, veil_http_req_method(req), full,
                                  veil_http_req_header(req, "Content-Type"), body, n, out);
    veil_free(full);
    return r;
}

/* ---- streamed chat: a worker runs the exchange, the reader relays its pieces ------------ */

typedef struct stream {
    proxy *p;
    veil_bhttp_msg *req;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    veil_buf q;
    size_t q_off;
    bool head, done, cancel;
    veil_result r;
    unsigned status;
    char ctype[VEIL_HTTP_CONTENT_TYPE_MAX];
} stream;

static int st_head(void *ctx, const veil_bhttp_msg *head)
{
    stream *s = ctx;
    const veil_bhttp_field *ct = veil_bhttp_header_find(head, "content-type");
    pthread_mutex_lock(&s->mu);
    s->status = veil_bhttp_status(head);
    snprintf(s->ctype, sizeof s->ctype, "%s", ct ? (const char *)ct->value : "");
    s->head = true;
    int stop = s->cancel;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static int st_data(void *ctx, const uint8_t *p, size_t n)
{
    stream *s = ctx;
    pthread_mutex_lock(&s->mu);
    int stop = s->cancel || !veil_ok(veil_buf_append(&s->q, p, n));
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void *st_worker(void *arg)
{
    stream *s = arg;
    veil_result r = VEIL_OK;
    veil_client *c = client_get(s->p, &r);
    if (c) {
        veil_client_sink sink = {st_head, st_data, s};
        r = veil_client_request_stream(c, s->req, &sink);
        if (key_changed(r) && !s->head) { /* nothing was relayed yet: once more */
            r = reverify(c);
            if (veil_ok(r))
                r = veil_client_request_stream(c, s->req, &sink);
        }
        client_put(s->p, c);
    }
    pthread_mutex_lock(&s->mu);
    s->r = r;
    s->done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static ssize_t st_read(void *ctx, uint8_t *buf, size_t cap)
{
    stream *s = ctx;
    ssize_t out = VEIL_HTTP_STREAM_ERROR;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->q.len > s->q_off) {
            size_t n = s->q.len - s->q_off;
            if (n > cap)
                n = cap;
            memcpy(buf, s->q.data + s->q_off, n);
            s->q_off += n;
            if (s->q_off == s->q.len) {
                veil_buf_clear(&s->q);
                s->q_off = 0;
            }
            out = (ssize_t)n;
            break;
        }
        if (s->done) {
            out = veil_ok(s->r) ? 0 : VEIL_HTTP_STREAM_ERROR;
            break;
        }
        if (atomic_load(&s->p->stopping) || s->cancel)
            break;
        struct timespec ts;
        deadline_in(&ts, 100);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

static void st_free(void *arg)
{
    stream *s = arg;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->cancel = true;
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->th, NULL);
    veil_bhttp_msg_free(s->req);
    veil_buf_free(&s->q);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    veil_free(s);
}

static void serve_stream(proxy *p, veil_http_request *req, veil_http_response *resp,
                         veil_bhttp_msg *inner)
{
    stream *s = veil_calloc(1, sizeof *s);
    if (!s) {
        veil_bhttp_msg_free(inner);
        problem(resp, 500, NULL, "out of memory");
        return;
    }
    s->p = p;
    s->req = inner;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    veil_buf_init(&s->q, MAX_QUEUE);
    veil_http_req_set_state(req, s, st_free);
    if (pthread_create(&s->th, NULL, st_worker, s) != 0) {
        problem(resp, 500, NULL, "cannot start a thread");
        return;
    }
    s->started = true;
    struct timespec ts;
    deadline_in(&ts, (long)HEAD_WAIT_S * 1000);
    pthread_mutex_lock(&s->mu);
    while (!s->head && !s->done && !atomic_load(&p->stopping))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    bool head = s->head;
    unsigned status = s->status;
    char ctype[VEIL_HTTP_CONTENT_TYPE_MAX];
    snprintf(ctype, sizeof ctype, "%s", s->ctype);
    veil_result r = s->r;
    bool done = s->done;
    pthread_mutex_unlock(&s->mu);
    if (head)
        veil_http_resp_stream(resp, status, *ctype ? ctype : NULL, st_read, s);
    else
        problem(resp, 502, "verified-path",
                done && r.msg ? r.msg : "no answer from the gateway in time");
}

/* ---- requests ---------------------------------------------------------------------------- */

static bool wants_stream(veil_http_request *req)
{
    if (strcmp(veil_http_req_method(req), "POST") ||
        strcmp(veil_http_req_path(req), "/v1/chat/completions"))
        return false;
    size_t n = 0;
    const uint8_t *b = veil_http_req_body(req, &n);
    json_t *j = b ? json_loadb((const char *)b, n, 0, NULL) : NULL;
    bool yes = json_is_true(json_object_get(j, "stream"));
    json_decref(j);
    return yes;
}

static void handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    proxy *p = ctx;
    const char *path = veil_http_req_path(req);
    if (strncmp(path, "/v1/", 4) != 0) {
        problem(resp, 404, "not-found", "this proxy serves the OpenAI API under /v1/ only");
        return;
    }
    veil_result r = VEIL_OK;
    veil_client *c = client_get(p, &r);
    if (!c) {
        problem(resp, 502, "verification-refused", r.msg);
        return;
    }
    veil_bhttp_msg *inner = NULL, *answer = NULL;
    r = build(c, req, &inner);
    if (!veil_ok(r)) {
        client_put(p, c);
        problem(resp, 400, "bad-request", r.msg);
        return;
    }
    if (wants_stream(req)) {
        client_put(p, c); /* the worker takes its own */
        serve_stream(p, req, resp, inner);
        return;
    }
    r = veil_client_request(c, inner, &answer);
    if (key_changed(r)) { /* the gateway's keys changed: verify again once, retry once */
        r = reverify(c);
        if (veil_ok(r))
            r = veil_client_request(c, inner, &answer);
    }
    client_put(p, c);
    veil_bhttp_msg_free(inner);
    if (!veil_ok(r)) {
        problem(resp, 502, "verified-path", r.msg);
        return;
    }
    size_t n = 0;
    const uint8_t *body = veil_bhttp_content(answer, &n);
    const veil_bhttp_field *ct = veil_bhttp_header_find(answer, "content-type");
    veil_http_resp_set(resp, veil_bhttp_status(answer), ct ? (const char *)ct->value : NULL, body,
                       n);
    veil_bhttp_msg_free(answer);
}

static void on_abort(void *ctx) { atomic_store(&((proxy *)ctx)->stopping, true); }

/* ---- command ----------------------------------------------------------------------------- */

static bool parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return false;
    if (s[0] == '[' ? colon[-1] != ']' : memchr(s, ':', (size_t)(colon - s)) != NULL)
        return false;
    if (s[0] == '[') {
        memcpy(host, s + 1, (size_t)(colon - s) - 2);
        host[colon - s - 2] = '\0';
    } else {
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || p > 65535)
        return false;
    *port = (uint16_t)p;
    return true;
}

static bool is_loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcasecmp(host, "localhost");
}

int cmd_proxy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},  {"relay", required_argument, NULL, 'r'},
        {"gateway", required_argument, NULL, 'g'}, {"policy", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},          {"allow-remote", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *listen = NULL, *policy_path = NULL;
    bool as_json = false, allow_remote = false;
    proxy p = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'r': p.relay = optarg; break;
        case 'g': p.gateway = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'j': as_json = true; break;
        case 'a': allow_remote = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    char host[64];
    uint16_t port = 0;
    if (optind != argc || !listen || !p.relay || !p.gateway || !policy_path) {
        fprintf(stderr, "veil proxy: need --listen, --relay, --gateway and --policy\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (!parse_listen(listen, host, sizeof host, &port)) {
        fprintf(stderr, "veil proxy: bad --listen '%s' (want ADDR:PORT)\n", listen);
        return VEIL_EXIT_USAGE;
    }
    if (!strcasecmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (!is_loopback(host) && !allow_remote) {
        fprintf(stderr,
                "veil proxy: refusing to listen on %s: not a loopback address (anyone who can "
                "reach it could use your verified path); --allow-remote to insist\n",
                host);
        return VEIL_EXIT_USAGE;
    }
    p.policy = cli_read_file(policy_path, &p.policy_len, MAX_POLICY);
    if (!p.policy)
        return VEIL_EXIT_INPUT;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);

    int rc = VEIL_EXIT_INTERNAL;
    veil_http_server *srv = NULL;
    veil_client *first = NULL;
    veil_buf text;
    veil_buf_init(&text, 0);
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    if (!rep)
        goto out;
    /* Verify before anything listens: a refused gateway never gets a request. */
    veil_result r = client_make(&p, &first, rep);
    if (as_json ? veil_ok(veil_client_report_json(rep, &text))
                : veil_ok(veil_client_report_text(rep, &text)))
        fprintf(as_json ? stdout : stderr, "%.*s%s", (int)text.len, (const char *)text.data,
                as_json ? "\n" : "");
    if (!veil_ok(r)) {
        fprintf(stderr, "veil proxy: refusing to start: verification failed at check \"%s\": %s\n",
                rep->failed_check[0] ? rep->failed_check : "client", r.msg ? r.msg : "");
        rc = r.cls == VEIL_E_USAGE ? VEIL_EXIT_USAGE : VEIL_EXIT_FAILED;
        goto out;
    }
    if (rep->simulated && !as_json)
        fprintf(stderr, "WARNING: the TEE is SIMULATED: it gives no confidentiality (for tests "
                        "and demos only)\n");
    p.idle[p.n_idle++] = first;
    p.total = 1;
    first = NULL;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    veil_http_server_config cfg = {.address = host,
                                   .port = port,
                                   .max_body = MAX_BODY,
                                   .timeout_s = 660,
                                   .stop_grace_ms = 2000,
                                   .handler = handler,
                                   .on_abort = on_abort,
                                   .ctx = &p};
    r = veil_http_server_start(&cfg, &srv);
    if (!veil_ok(r)) {
        cli_error("proxy", r);
        rc = cli_exit_for(r);
        goto out;
    }
    unsigned bound = veil_http_server_port(srv);
    const char *lb = strchr(host, ':') ? "[" : "", *rb = strchr(host, ':') ? "]" : "";
    if (as_json)
        printf("{\"event\":\"listening\",\"url\":\"http://%s%s%s:%u/v1\",\"port\":%u}\n", lb, host,
               rb, bound, bound);
    else
        printf("veil proxy: the OpenAI API on http://%s%s%s:%u/v1 -> relay %s -> verified "
               "gateway %s\n",
               lb, host, rb, bound, p.relay, p.gateway);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    atomic_store(&p.stopping, true);
    veil_http_server_stop(srv);
    rc = VEIL_EXIT_OK;
out:
    veil_client_free(first);
    for (size_t i = 0; i < p.n_idle; i++)
        veil_client_free(p.idle[i]);
    veil_buf_free(&text);
    veil_free(rep);
    veil_free_wiped(p.policy, p.policy_len);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc;
}
