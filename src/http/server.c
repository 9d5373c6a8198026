/* HTTP server on libmicrohttpd, thread-per-connection (include/veil/http.h).
 *
 * Life of a request (all on the connection's thread):
 *   on_uri        request line parsed: allocate the request (refs = 1), count
 *                 it in flight, keep the raw URI and the client's address;
 *   on_access #1  headers complete: 503 while stopping, 413 for a declared
 *                 body over the limit, else the `begin` hook;
 *   on_access #n  body pieces: to the stream callback, or buffered;
 *   on_access end run the handler and queue its response;
 *   on_completed  MHD is done with the request: drop its reference.
 * A streamed response holds a second reference, dropped when MHD releases
 * the response; the last reference frees the user's state and the request
 * and takes it out of flight, which is what a graceful stop waits for.
 *
 * Nothing here logs: MHD's own error log is left off, so no message can
 * carry a client address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/http_internal.h"
#include "veil/http.h"
#include "veil/mem.h"

#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_GRACE_MS 5000
#define MAX_GRACE_MS (10 * 60 * 1000)
/* A chunked body that overruns max_body is read and dropped for at most this
 * much more, so that a short overrun still gets its 413; beyond, the
 * connection is closed (MHD 0.9.75 cannot answer in the middle of a body). */
#define DISCARD_MAX ((uint64_t)64 << 10)
#define STREAM_BLOCK 16384
#define RESP_MAX_HEADERS 16

/* Sent when even the 500 problem cannot be built (no allocation needed). */
static const char FALLBACK_500[] = "{\"status\":500,\"title\":\"Internal Server Error\","
                                   "\"type\":\"about:blank\"}";

struct veil_http_response {
    bool set;
    veil_result err; /* sticky: the first builder failure */
    unsigned status;
    bool has_content_type;
    char content_type[VEIL_HTTP_CONTENT_TYPE_MAX];
    size_t n_headers;
    char *hname[RESP_MAX_HEADERS];
    char *hvalue[RESP_MAX_HEADERS];
    veil_buf body;
    veil_http_read_fn reader;
    void *reader_ctx;
};

enum req_phase { PHASE_NEW, PHASE_BEGIN, PHASE_BODY, PHASE_HANDLER };

struct veil_http_request {
    veil_http_server *srv;
    atomic_uint refs;
    struct MHD_Connection *conn;
    enum req_phase phase;
    const char *method; /* MHD's, valid until the request completes */
    char *uri;          /* raw request target, split at '?' into path and query */
    const char *query;
    char client[VEIL_HTTP_ADDR_MAX];
    bool deferred;   /* begin answered a request without a body: send at the end */
    bool queued;     /* a response was handed to MHD */
    bool discarding; /* body overran max_body: dropping it, 413 at the end */
    uint64_t received, discarded;
    veil_buf body;
    veil_http_write_fn piece;
    void *piece_ctx;
    void *state;
    void (*free_state)(void *);
    veil_http_response resp;
};

struct veil_http_server {
    struct MHD_Daemon *daemon;
    veil_http_server_config cfg; /* defaults filled in; address not kept */
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when in_flight drops */
    unsigned in_flight;
    atomic_bool stopping;
    atomic_bool aborting;
    bool sync_ready;
};

/* ---- response builder --------------------------------------------------- */

static void resp_reset(veil_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        veil_free(r->hname[i]);
        veil_free(r->hvalue[i]);
    }
    veil_buf_free(&r->body);
    *r = (veil_http_response){0};
}

static void resp_fail(veil_http_response *r, veil_result e)
{
    if (veil_ok(r->err))
        r->err = e;
}

void veil_http_resp_fail(veil_http_response *resp, veil_result err) { resp_fail(resp, err); }

/* Status and Content-Type shared by the three body setters. */
static bool resp_head(veil_http_response *r, unsigned status, const char *content_type)
{
    if (status < 200 || status > 599) {
        resp_fail(r, VEIL_ERR(VEIL_E_USAGE, "HTTP response status outside 200..599"));
        return false;
    }
    if (content_type && (strlen(content_type) >= sizeof r->content_type ||
                         !veil_http_field_value_ok(content_type))) {
        resp_fail(r, VEIL_ERR(VEIL_E_USAGE, "invalid response Content-Type"));
        return false;
    }
    veil_buf_free(&r->body);
    r->reader = NULL;
    r->reader_ctx = NULL;
    r->status = status;
    r->has_content_type = content_type != NULL;
    if (content_type)
        memcpy(r->content_type, content_type, strlen(content_type) + 1);
    return true;
}

void veil_http_resp_set(veil_http_response *resp, unsigned status, const char *content_type,
                        const void *p, size_t n)
{
    if (!resp_head(resp, status, content_type))
        return;
    veil_buf_init(&resp->body, 0);
    veil_result r = veil_buf_append(&resp->body, p, n);
    if (!veil_ok(r)) {
        resp_fail(resp, r);
        return;
    }
    resp->set = true;
}

void veil_http_resp_take(veil_http_response *resp, unsigned status, const char *content_type,
                         veil_buf *body)
{
    if (!resp_head(resp, status, content_type)) {
        veil_buf_free(body);
        return;
    }
    resp->body = *body;
    veil_buf_init(body, body->max);
    resp->set = true;
}

void veil_http_resp_stream(veil_http_response *resp, unsigned status, const char *content_type,
                           veil_http_read_fn reader, void *ctx)
{
    if (!reader) {
        resp_fail(resp, VEIL_ERR(VEIL_E_USAGE, "stream response without a reader"));
        return;
    }
    if (!resp_head(resp, status, content_type))
        return;
    resp->reader = reader;
    resp->reader_ctx = ctx;
    resp->set = true;
}

void veil_http_resp_header(veil_http_response *resp, const char *name, const char *value)
{
    static const char *const reserved[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                           "Content-Type"};
    if (!name || !value || !veil_http_token_ok(name) || !veil_http_field_value_ok(value)) {
        resp_fail(resp, VEIL_ERR(VEIL_E_USAGE, "invalid response header"));
        return;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcasecmp(name, reserved[i])) {
            resp_fail(resp, VEIL_ERR(VEIL_E_USAGE, "response header is set by the HTTP module"));
            return;
        }
    if (resp->n_headers == RESP_MAX_HEADERS) {
        resp_fail(resp, VEIL_ERR(VEIL_E_USAGE, "too many response headers"));
        return;
    }
    char *n = veil_http_strdup(name), *v = veil_http_strdup(value);
    if (!n || !v) {
        veil_free(n);
        veil_free(v);
        resp_fail(resp, VEIL_ERR(VEIL_E_NOMEM, "out of memory"));
        return;
    }
    resp->hname[resp->n_headers] = n;
    resp->hvalue[resp->n_headers] = v;
    resp->n_headers++;
}

/* ---- request life ------------------------------------------------------- */

static void req_unref(veil_http_request *rq)
{
    if (atomic_fetch_sub(&rq->refs, 1) != 1)
        return;
    veil_http_server *s = rq->srv;
    if (rq->free_state)
        rq->free_state(rq->state);
    resp_reset(&rq->resp);
    veil_buf_free(&rq->body);
    veil_free(rq->uri);
    veil_free(rq);
    pthread_mutex_lock(&s->mu);
    s->in_flight--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* IPv4-mapped IPv6 addresses (dual stack) are shown as the IPv4 address, so
 * one client has one name whichever socket family carried it. */
static void format_client(const struct sockaddr *sa, char out[VEIL_HTTP_ADDR_MAX])
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, out, VEIL_HTTP_ADDR_MAX);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
            inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], out, VEIL_HTTP_ADDR_MAX);
        else
            inet_ntop(AF_INET6, &v6->sin6_addr, out, VEIL_HTTP_ADDR_MAX);
    }
}

/* MHD_OPTION_URI_LOG_CALLBACK: called once per request with the raw target
 * (before MHD splits and unescapes it); the return value becomes *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    veil_http_server *s = cls;
    veil_http_request *rq = veil_calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->uri = veil_http_strdup(uri ? uri : "");
    if (!rq->uri) {
        veil_free(rq);
        return NULL;
    }
    char *q = strchr(rq->uri, '?');
    rq->query = "";
    if (q) {
        *q = '\0';
        rq->query = q + 1;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    format_client(ci ? ci->client_addr : NULL, rq->client);
    rq->srv = s;
    rq->conn = conn;
    atomic_init(&rq->refs, 1);
    veil_buf_init(&rq->body, s->cfg.max_body);
    pthread_mutex_lock(&s->mu);
    s->in_flight++;
    pthread_mutex_unlock(&s->mu);
    return rq;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    veil_http_request *rq = *con_cls;
    *con_cls = NULL;
    if (rq)
        req_unref(rq);
}

/* ---- streamed response bodies ------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    veil_http_request *rq = cls;
    if (atomic_load(&rq->srv->aborting) || max == 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    ssize_t n = rq->resp.reader(rq->resp.reader_ctx, (uint8_t *)buf, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0 || (size_t)n > max)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void stream_release(void *cls) { req_unref(cls); }

/* ---- queueing ------------------------------------------------------------ */

static struct MHD_Response *build_mhd(veil_http_request *rq, veil_http_response *r)
{
    struct MHD_Response *m = NULL;
    if (r->reader) {
        atomic_fetch_add(&rq->refs, 1);
        m = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, rq,
                                              stream_release);
        if (!m) {
            req_unref(rq); /* never the last reference: MHD still holds one */
            return NULL;
        }
    } else {
        m = MHD_create_response_from_buffer(r->body.len, r->body.len ? r->body.data : (void *)"",
                                            MHD_RESPMEM_MUST_COPY);
        if (!m)
            return NULL;
    }
    bool ok = !r->has_content_type ||
              MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type) == MHD_YES;
    for (size_t i = 0; ok && i < r->n_headers; i++)
        ok = MHD_add_response_header(m, r->hname[i], r->hvalue[i]) == MHD_YES;
    if (ok && atomic_load(&rq->srv->stopping))
        ok = MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(m); /* releases a stream's reference too */
        return NULL;
    }
    return m;
}

/* Hand rq->resp to MHD (a 500 problem if it is unset or failed). */
static enum MHD_Result queue(veil_http_request *rq)
{
    veil_http_response *r = &rq->resp;
    struct MHD_Response *m = NULL;
    unsigned status = r->status;
    if (rq->queued)
        return MHD_YES;
    rq->queued = true;
    if (!r->set || !veil_ok(r->err)) {
        resp_reset(r);
        veil_http_problem(r, 500, NULL, NULL, NULL);
        status = 500;
    }
    if (r->set && veil_ok(r->err))
        m = build_mhd(rq, r);
    if (!m) {
        status = 500;
        m = MHD_create_response_from_buffer(sizeof FALLBACK_500 - 1, (void *)FALLBACK_500,
                                            MHD_RESPMEM_PERSISTENT);
        if (!m)
            return MHD_NO;
        (void)MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, VEIL_HTTP_MT_PROBLEM);
    }
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, m);
    MHD_destroy_response(m);
    /* The body was copied (or is streamed from the reader); headers too. */
    veil_buf_free(&r->body);
    return ret;
}

static void answer(veil_http_request *rq, unsigned status, const char *slug, const char *title,
                   const char *detail)
{
    resp_reset(&rq->resp);
    veil_http_problem(&rq->resp, status, slug, title, detail);
}

/* Content-Length as sent (MHD has already rejected a malformed one). */
static bool declared_length(struct MHD_Connection *conn, uint64_t *len)
{
    const char *v =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!v)
        return false;
    uint64_t n = 0;
    for (; *v == ' ' || *v == '\t'; v++)
        ;
    for (; *v >= '0' && *v <= '9'; v++)
        n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : n * 10 + (uint64_t)(*v - '0');
    *len = n;
    return true;
}

static enum MHD_Result on_headers(veil_http_server *s, veil_http_request *rq,
                                  struct MHD_Connection *conn, const char *method)
{
    uint64_t clen = 0;
    bool has_len = declared_length(conn, &clen);
    bool has_body = (has_len && clen > 0) ||
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    rq->method = method;
    rq->conn = conn;
    if (atomic_load(&s->stopping)) {
        answer(rq, 503, "shutting-down", "Service Unavailable", "the server is shutting down");
        return queue(rq);
    }
    if (has_len && clen > s->cfg.max_body) {
        answer(rq, 413, "body-too-large", "Content Too Large",
               "the request body is larger than this server accepts");
        return queue(rq);
    }
    rq->phase = PHASE_BEGIN;
    if (s->cfg.begin)
        s->cfg.begin(s->cfg.ctx, rq, &rq->resp);
    rq->phase = PHASE_BODY;
    if (!rq->resp.set && veil_ok(rq->resp.err))
        return MHD_YES; /* read the body */
    if (has_body)
        return queue(rq); /* early answer: MHD will not read the body */
    rq->deferred = true;  /* no body: answer at the end, keeping the connection */
    return MHD_YES;
}

static enum MHD_Result on_piece(veil_http_server *s, veil_http_request *rq, const uint8_t *p,
                                size_t n)
{
    if (rq->deferred || rq->discarding) {
        rq->discarding = true;
        rq->discarded += n;
        return rq->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    if (n > s->cfg.max_body - rq->received) {
        rq->discarding = true;
        rq->discarded = n;
        veil_buf_free(&rq->body);
        return rq->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    rq->received += n;
    if (rq->piece)
        return rq->piece(rq->piece_ctx, p, n) == 0 ? MHD_YES : MHD_NO;
    return veil_ok(veil_buf_append(&rq->body, p, n)) ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_end(veil_http_server *s, veil_http_request *rq)
{
    if (rq->deferred)
        return queue(rq);
    if (rq->discarding) {
        answer(rq, 413, "body-too-large", "Content Too Large",
               "the request body is larger than this server accepts");
        return queue(rq);
    }
    rq->phase = PHASE_HANDLER;
    s->cfg.handler(s->cfg.ctx, rq, &rq->resp);
    return queue(rq);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    veil_http_server *s = cls;
    veil_http_request *rq = *con_cls;
    if (!rq)
        return MHD_NO; /* on_uri could not allocate */
    if (rq->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->phase == PHASE_NEW)
        return on_headers(s, rq, conn, method);
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return on_piece(s, rq, (const uint8_t *)upload_data, n);
    }
    return on_end(s, rq);
}

/* ---- request view ----------------------------------------------------------- */

const char *veil_http_req_method(const veil_http_request *req) { return req->method; }
const char *veil_http_req_path(const veil_http_request *req) { return req->uri; }
const char *veil_http_req_query(const veil_http_request *req) { return req->query; }
const char *veil_http_req_client_addr(const veil_http_request *req) { return req->client; }

const char *veil_http_req_query_param(const veil_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *veil_http_req_header(const veil_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct header_walk {
    bool (*fn)(void *ctx, const char *name, const char *value);
    void *ctx;
};

static enum MHD_Result walk_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_walk *w = cls;
    return w->fn(w->ctx, key, value ? value : "") ? MHD_YES : MHD_NO;
}

void veil_http_req_headers(const veil_http_request *req,
                           bool (*fn)(void *ctx, const char *name, const char *value), void *ctx)
{
    struct header_walk w = {fn, ctx};
    (void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, walk_header, &w);
}

const uint8_t *veil_http_req_body(const veil_http_request *req, size_t *len)
{
    *len = req->body.len;
    return req->body.len ? req->body.data : NULL;
}

void veil_http_req_stream_body(veil_http_request *req, veil_http_write_fn fn, void *ctx)
{
    if (req->phase != PHASE_BEGIN)
        return;
    req->piece = fn;
    req->piece_ctx = ctx;
}

void veil_http_req_set_state(veil_http_request *req, void *state, void (*free_state)(void *))
{
    req->state = state;
    req->free_state = free_state;
}

void *veil_http_req_state(const veil_http_request *req) { return req->state; }

/* ---- start and stop ----------------------------------------------------------- */

/* MHD_start_daemon gives no reason when it fails; binding the same address
 * ourselves recovers errno for a message a user can act on. */
static veil_result diagnose_bind(const struct sockaddr *sa, socklen_t salen, bool v6only)
{
    veil_result r = VEIL_ERR(VEIL_E_INTERNAL, "could not start the HTTP server");
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return r;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6) {
        int v = v6only ? 1 : 0;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
    }
    if (bind(fd, sa, salen) != 0) {
        switch (errno) {
        case EADDRINUSE: r = VEIL_ERR(VEIL_E_USAGE, "listen address already in use"); break;
        case EADDRNOTAVAIL:
            r = VEIL_ERR(VEIL_E_USAGE, "listen address is not an address of this host");
            break;
        case EACCES: r = VEIL_ERR(VEIL_E_USAGE, "permission denied binding the listen port"); break;
        case EAFNOSUPPORT:
            r = VEIL_ERR(VEIL_E_UNSUPPORTED, "address family not supported on this host");
            break;
        default: break;
        }
    }
    close(fd);
    return r;
}

static veil_result parse_listen(const char *address, uint16_t port, struct sockaddr_storage *ss,
                                socklen_t *len)
{
    char buf[VEIL_HTTP_ADDR_MAX + 2];
    const char *a = address ? address : "127.0.0.1";
    size_t n = strlen(a);
    memset(ss, 0, sizeof *ss);
    VEIL_ENSURE(n > 0 && n < sizeof buf, VEIL_E_USAGE, "listen address is not an IP address");
    if (a[0] == '[' && a[n - 1] == ']') { /* "[::1]" */
        memcpy(buf, a + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, a, n + 1);
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
        return VEIL_OK;
    }
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        return VEIL_OK;
    }
    return VEIL_ERR(VEIL_E_USAGE, "listen address is not an IPv4 or IPv6 address");
}

static veil_result fill_defaults(const veil_http_server_config *in, veil_http_server_config *c)
{
    VEIL_ENSURE(in && in->handler, VEIL_E_USAGE, "HTTP server needs a handler");
    *c = *in;
    c->address = NULL;
    if (!c->max_connections)
        c->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (!c->timeout_s)
        c->timeout_s = DEFAULT_TIMEOUT_S;
    if (!c->max_body)
        c->max_body = DEFAULT_MAX_BODY;
    if (!c->stop_grace_ms)
        c->stop_grace_ms = DEFAULT_GRACE_MS;
    if (c->stop_grace_ms > MAX_GRACE_MS)
        c->stop_grace_ms = MAX_GRACE_MS;
    return VEIL_OK;
}

static void server_free(veil_http_server *s)
{
    if (!s)
        return;
    if (s->sync_ready) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    veil_free(s);
}

/* The mutex, and a condition variable on the monotonic clock. */
static veil_result sync_init(veil_http_server *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return VEIL_ERR(VEIL_E_INTERNAL, "pthread_condattr_init failed");
    bool ok =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&s->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        return VEIL_ERR(VEIL_E_INTERNAL, "pthread_cond_init failed");
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        return VEIL_ERR(VEIL_E_INTERNAL, "pthread_mutex_init failed");
    }
    s->sync_ready = true;
    return VEIL_OK;
}

veil_result veil_http_server_start(const veil_http_server_config *cfg, veil_http_server **out)
{
    veil_result res = VEIL_OK;
    veil_http_server *s = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;

    VEIL_ENSURE(out, VEIL_E_USAGE, "HTTP server: no output");
    *out = NULL;
    VEIL_ENSURE(cfg, VEIL_E_USAGE, "HTTP server needs a configuration");
    VEIL_TRY(res, parse_listen(cfg->address, cfg->port, &ss, &sslen));
    bool v6 = ss.ss_family == AF_INET6;
    VEIL_ENSURE_GOTO(res, !cfg->dual_stack || v6, VEIL_E_USAGE,
                     "dual stack needs an IPv6 listen address");
    s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE_GOTO(res, s, VEIL_E_NOMEM, "out of memory");
    VEIL_TRY(res, fill_defaults(cfg, &s->cfg));
    VEIL_TRY(res, sync_init(s));
    atomic_init(&s->stopping, false);
    atomic_init(&s->aborting, false);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (v6)
        flags |= cfg->dual_stack ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* Options as an array, so the per-address limit is passed only when set. */
    struct MHD_OptionItem opt[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->cfg.max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->cfg.timeout_s, NULL},
        {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)s->cfg.max_per_client, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!s->cfg.max_per_client)
        opt[4].option = MHD_OPTION_END;
    s->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_access, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_ARRAY, opt, MHD_OPTION_END);
    if (!s->daemon) {
        res = diagnose_bind((struct sockaddr *)&ss, sslen, v6 && !cfg->dual_stack);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    if (!s->port) {
        MHD_stop_daemon(s->daemon);
        res = VEIL_ERR(VEIL_E_INTERNAL, "HTTP server: could not read the bound port");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    server_free(s);
    return res;
}

uint16_t veil_http_server_port(const veil_http_server *s) { return s ? s->port : 0; }

void veil_http_server_stop(veil_http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon); /* no new connections */
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);

    struct timespec deadline;
    veil_http_deadline(&deadline, s->cfg.stop_grace_ms);
    pthread_mutex_lock(&s->mu);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
            break;
    bool left = s->in_flight > 0;
    pthread_mutex_unlock(&s->mu);
    if (left) {
        atomic_store(&s->aborting, true);
        if (s->cfg.on_abort)
            s->cfg.on_abort(s->cfg.ctx);
    }
    MHD_stop_daemon(s->daemon); /* closes connections, joins their threads */
    server_free(s);
}
