/* HTTP client on libcurl (include/veil/http.h).
 *
 * One easy handle per exchange, driven through a multi handle so that the
 * loop wakes at least every 100 ms to poll the caller's cancel hook. Headers
 * are kept to what the exchange needs: curl's default Accept and Expect are
 * removed, no User-Agent is set, redirects are refused unless asked for,
 * proxies come only from the options (never from the environment), and only
 * http and https are spoken. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http/http_internal.h"
#include "veil/http.h"
#include "veil/mem.h"

#define DEFAULT_CONNECT_MS 10000u
#define DEFAULT_TIMEOUT_MS 60000u
#define DEFAULT_MAX_RESPONSE ((size_t)16 << 20)
#define POLL_MS 100
#define HEADER_LINE_MAX 8192

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_FAILED_INIT;

static void global_init(void) { g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

struct xfer {
    CURL *easy;
    const veil_http_client_request *req;
    const veil_http_client_sink *sink; /* NULL: buffer the body */
    veil_http_client_response *out;
    size_t max;
    uint64_t received;
    bool head_done;
    bool too_large, aborted, bad_head, cancelled;
};

const char *veil_http_failure_name(veil_http_failure f)
{
    switch (f) {
    case VEIL_HTTP_FAIL_NONE: return "none";
    case VEIL_HTTP_FAIL_CONNECT: return "connect";
    case VEIL_HTTP_FAIL_TIMEOUT: return "timeout";
    case VEIL_HTTP_FAIL_TLS: return "tls";
    case VEIL_HTTP_FAIL_TOO_LARGE: return "too-large";
    case VEIL_HTTP_FAIL_ABORTED: return "aborted";
    case VEIL_HTTP_FAIL_PROTOCOL: return "protocol";
    case VEIL_HTTP_FAIL_USAGE: return "usage";
    }
    return "unknown";
}

static veil_result failure_result(veil_http_failure f)
{
    switch (f) {
    case VEIL_HTTP_FAIL_NONE: return VEIL_OK;
    case VEIL_HTTP_FAIL_CONNECT:
        return VEIL_ERR(VEIL_E_INTERNAL, "could not connect to the HTTP server");
    case VEIL_HTTP_FAIL_TIMEOUT:
        return VEIL_ERR(VEIL_E_INTERNAL, "the HTTP server did not answer in time");
    case VEIL_HTTP_FAIL_TLS:
        return VEIL_ERR(VEIL_E_CRYPTO, "TLS handshake or certificate verification failed");
    case VEIL_HTTP_FAIL_TOO_LARGE:
        return VEIL_ERR(VEIL_E_NOMEM, "the HTTP response is larger than the limit");
    case VEIL_HTTP_FAIL_ABORTED: return VEIL_ERR(VEIL_E_INTERNAL, "the HTTP exchange was aborted");
    case VEIL_HTTP_FAIL_PROTOCOL:
        return VEIL_ERR(VEIL_E_PROTOCOL, "malformed or truncated HTTP response");
    case VEIL_HTTP_FAIL_USAGE: return VEIL_ERR(VEIL_E_USAGE, "invalid HTTP URL, method or header");
    }
    return VEIL_ERR(VEIL_E_INTERNAL, "HTTP exchange failed");
}

static veil_http_failure classify(CURLcode rc, const struct xfer *x)
{
    if (x->too_large)
        return VEIL_HTTP_FAIL_TOO_LARGE;
    if (x->aborted || x->cancelled)
        return VEIL_HTTP_FAIL_ABORTED;
    if (x->bad_head)
        return VEIL_HTTP_FAIL_PROTOCOL;
    switch (rc) {
    case CURLE_OK: return VEIL_HTTP_FAIL_NONE;
    case CURLE_OPERATION_TIMEDOUT: return VEIL_HTTP_FAIL_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return VEIL_HTTP_FAIL_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE: return VEIL_HTTP_FAIL_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return VEIL_HTTP_FAIL_USAGE;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR: return VEIL_HTTP_FAIL_ABORTED;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return x->head_done ? VEIL_HTTP_FAIL_PROTOCOL : VEIL_HTTP_FAIL_CONNECT;
    default: return VEIL_HTTP_FAIL_PROTOCOL;
    }
}

/* The final response head is in: record status and Content-Type, refuse a
 * declared length over the limit, and tell the sink (once). */
static bool head_emit(struct xfer *x)
{
    long code = 0;
    char *ct = NULL;
    curl_off_t cl = -1;
    if (x->head_done && x->sink)
        return true;
    (void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    (void)curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
    (void)curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    x->head_done = true;
    x->out->status = code;
    x->out->content_type[0] = '\0';
    if (ct) {
        size_t n = strlen(ct);
        if (n >= sizeof x->out->content_type) {
            x->bad_head = true;
            return false;
        }
        memcpy(x->out->content_type, ct, n + 1);
    }
    if (cl > 0 && (uint64_t)cl > x->max) {
        x->too_large = true;
        return false;
    }
    veil_buf_clear(&x->out->body); /* a followed redirect's body, if any */
    x->received = 0;
    if (x->sink && x->sink->on_head &&
        x->sink->on_head(x->sink->ctx, code, x->out->content_type) != 0) {
        x->aborted = true;
        return false;
    }
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct xfer *x = ctx;
    size_t len = size * n;
    if (len > 0 && len <= 2 && (p[0] == '\r' || p[0] == '\n')) { /* end of a head */
        long code = 0;
        (void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && !head_emit(x))
            return 0;
    }
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ctx)
{
    struct xfer *x = ctx;
    size_t len = size * n;
    if (!x->head_done && !head_emit(x))
        return 0;
    if (len > x->max - x->received) {
        x->too_large = true;
        return 0;
    }
    x->received += len;
    if (x->sink) {
        if (x->sink->on_body && x->sink->on_body(x->sink->ctx, (const uint8_t *)p, len) != 0) {
            x->aborted = true;
            return 0;
        }
        return len;
    }
    if (!veil_ok(veil_buf_append(&x->out->body, p, len))) {
        x->too_large = true;
        return 0;
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    struct xfer *x = ctx;
    size_t cap = size * n;
    ssize_t r = x->req->read_body(x->req->read_ctx, (uint8_t *)buf, cap);
    if (r < 0 || (size_t)r > cap) {
        x->aborted = true;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)r;
}

static bool append_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[HEADER_LINE_MAX];
    int n = value[0] ? snprintf(line, sizeof line, "%s: %s", name, value)
                     : snprintf(line, sizeof line, "%s:", name); /* "Name:" removes it */
    if (n < 0 || (size_t)n >= sizeof line)
        return false;
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return false;
    *list = l;
    return true;
}

static bool has_header(const veil_http_client_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return true;
    return false;
}

/* Content-Type, the caller's headers, framing, and removal of curl's
 * defaults. Caller headers must be valid and may not set the framing. */
static veil_result build_headers(const veil_http_client_request *req, struct curl_slist **list)
{
    static const char *const framing[] = {"Content-Length", "Transfer-Encoding", "Host"};
    bool ok = true;
    if (req->content_type) {
        VEIL_ENSURE(veil_http_field_value_ok(req->content_type), VEIL_E_USAGE,
                    "invalid request Content-Type");
        ok = append_header(list, "Content-Type", req->content_type);
    }
    for (size_t i = 0; ok && i < req->n_headers; i++) {
        const veil_http_header *h = &req->headers[i];
        VEIL_ENSURE(h->name && h->value && veil_http_token_ok(h->name) &&
                        veil_http_field_value_ok(h->value),
                    VEIL_E_USAGE, "invalid request header");
        for (size_t j = 0; j < sizeof framing / sizeof framing[0]; j++)
            VEIL_ENSURE(strcasecmp(h->name, framing[j]) != 0, VEIL_E_USAGE,
                        "request framing headers are set by the HTTP module");
        ok = h->value[0] ? append_header(list, h->name, h->value) : true;
    }
    if (ok && !has_header(req, "Accept"))
        ok = append_header(list, "Accept", "");
    if (ok && !has_header(req, "Expect"))
        ok = append_header(list, "Expect", "");
    if (ok && req->read_body && req->read_len == 0)
        ok = append_header(list, "Transfer-Encoding", "chunked");
    VEIL_ENSURE(ok, VEIL_E_USAGE, "request header too long, or out of memory");
    return VEIL_OK;
}

static bool method_ok(const char *m)
{
    for (const char *p = m; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return false;
    return *m != '\0' && strlen(m) <= 16;
}

static veil_result setup(struct xfer *x, const veil_http_client_opts *o, struct curl_slist *hdrs)
{
    const veil_http_client_request *req = x->req;
    CURL *e = x->easy;
    bool has_body = req->read_body || req->body_len > 0;
    const char *method = req->method ? req->method : (has_body ? "POST" : "GET");
    unsigned cto = o && o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    unsigned to = o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    bool follow = o && o->max_redirects > 0 && !x->sink;
    int bad = 0;

    VEIL_ENSURE(method_ok(method), VEIL_E_USAGE, "invalid HTTP method");
    VEIL_ENSURE(!req->body_len || req->body, VEIL_E_USAGE, "request body length without a body");
    bad |= (int)curl_easy_setopt(e, CURLOPT_URL, req->url);
    bad |= (int)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= (int)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= (int)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    if (follow) {
        bad |= (int)curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)o->max_redirects);
        bad |= (int)curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    bad |= (int)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
    bad |= (int)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to == VEIL_HTTP_NO_TIMEOUT ? 0L : (long)to);
    bad |= (int)curl_easy_setopt(e, CURLOPT_PROXY, o && o->proxy ? o->proxy : "");
    if (o && o->ca_file)
        bad |= (int)curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    bad |= (int)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    bad |= (int)curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    bad |= (int)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    bad |= (int)curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (req->read_body) {
        bad |= (int)curl_easy_setopt(e, CURLOPT_POST, 1L);
        bad |= (int)curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        bad |= (int)curl_easy_setopt(e, CURLOPT_READDATA, x);
        bad |= (int)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                     req->read_len ? (curl_off_t)req->read_len : (curl_off_t)-1);
    } else if (has_body || strcmp(method, "POST") == 0) {
        bad |= (int)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        bad |= (int)curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : (void *)"");
    } else if (strcmp(method, "HEAD") == 0) {
        bad |= (int)curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    }
    if (strcmp(method, has_body || !strcmp(method, "POST") ? "POST" : "GET") != 0)
        bad |= (int)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    bad |= (int)curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    VEIL_ENSURE(!bad, VEIL_E_USAGE, "invalid HTTP client option or URL");
    return VEIL_OK;
}

/* Drive the transfer; *rc gets curl's verdict (CURLE_OK when cancelled). */
static veil_result perform(struct xfer *x, CURLcode *rc)
{
    CURLM *m = curl_multi_init();
    int running = 1;
    veil_result res = VEIL_OK;
    *rc = CURLE_OK;
    VEIL_ENSURE(m, VEIL_E_NOMEM, "curl_multi_init failed");
    VEIL_ENSURE_GOTO(res, curl_multi_add_handle(m, x->easy) == CURLM_OK, VEIL_E_INTERNAL,
                     "curl_multi_add_handle failed");
    while (running) {
        VEIL_ENSURE_GOTO(res, curl_multi_perform(m, &running) == CURLM_OK, VEIL_E_INTERNAL,
                         "curl_multi_perform failed");
        if (!running)
            break;
        if (x->sink && x->sink->cancelled && x->sink->cancelled(x->sink->ctx)) {
            x->cancelled = true;
            break;
        }
        VEIL_ENSURE_GOTO(res, curl_multi_poll(m, NULL, 0, POLL_MS, NULL) == CURLM_OK,
                         VEIL_E_INTERNAL, "curl_multi_poll failed");
    }
    int left = 0;
    for (CURLMsg *msg; (msg = curl_multi_info_read(m, &left)) != NULL;)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->easy)
            *rc = msg->data.result;
out:
    (void)curl_multi_remove_handle(m, x->easy);
    curl_multi_cleanup(m);
    return res;
}

static veil_result exchange(const veil_http_client_request *req, const veil_http_client_opts *o,
                            const veil_http_client_sink *sink, veil_http_client_response *out)
{
    veil_result res = VEIL_OK;
    struct curl_slist *hdrs = NULL;
    struct xfer x = {0};
    CURLcode rc = CURLE_OK;

    VEIL_ENSURE(out, VEIL_E_USAGE, "HTTP client: no response output");
    *out = (veil_http_client_response){0};
    x.max = o && o->max_response ? o->max_response : DEFAULT_MAX_RESPONSE;
    veil_buf_init(&out->body, x.max);
    out->failure = VEIL_HTTP_FAIL_USAGE;
    VEIL_ENSURE(req && req->url, VEIL_E_USAGE, "HTTP client: no URL");
    pthread_once(&g_once, global_init);
    VEIL_ENSURE(g_init_rc == CURLE_OK, VEIL_E_INTERNAL, "curl_global_init failed");
    x.req = req;
    x.sink = sink;
    x.out = out;
    x.easy = curl_easy_init();
    VEIL_ENSURE_GOTO(res, x.easy, VEIL_E_NOMEM, "curl_easy_init failed");
    VEIL_TRY(res, build_headers(req, &hdrs));
    VEIL_TRY(res, setup(&x, o, hdrs));
    out->failure = VEIL_HTTP_FAIL_NONE;
    VEIL_TRY(res, perform(&x, &rc));
    if (rc == CURLE_OK && !x.cancelled && !x.head_done)
        (void)head_emit(&x); /* a head without the blank line seen (HTTP/0.9-like) */
    out->failure = classify(rc, &x);
    res = failure_result(out->failure);
out:
    if (!veil_ok(res) && out->failure == VEIL_HTTP_FAIL_NONE)
        out->failure = res.cls == VEIL_E_USAGE ? VEIL_HTTP_FAIL_USAGE : VEIL_HTTP_FAIL_ABORTED;
    curl_slist_free_all(hdrs);
    if (x.easy)
        curl_easy_cleanup(x.easy);
    return res;
}

veil_result veil_http_fetch(const veil_http_client_request *req, const veil_http_client_opts *opts,
                            veil_http_client_response *out)
{
    return exchange(req, opts, NULL, out);
}

veil_result veil_http_fetch_stream(const veil_http_client_request *req,
                                   const veil_http_client_opts *opts,
                                   const veil_http_client_sink *sink,
                                   veil_http_client_response *out)
{
    static const veil_http_client_sink discard = {0};
    return exchange(req, opts, sink ? sink : &discard, out);
}

veil_result veil_http_get(const char *url, const veil_http_client_opts *opts,
                          veil_http_client_response *out)
{
    veil_http_client_request req = {.method = "GET", .url = url};
    return veil_http_fetch(&req, opts, out);
}

veil_result veil_http_post(const char *url, const char *content_type, const void *body, size_t len,
                           const veil_http_client_opts *opts, veil_http_client_response *out)
{
    veil_http_client_request req = {
        .method = "POST", .url = url, .content_type = content_type, .body = body, .body_len = len};
    return veil_http_fetch(&req, opts, out);
}

void veil_http_client_response_free(veil_http_client_response *r)
{
    if (!r)
        return;
    veil_buf_free(&r->body);
    *r = (veil_http_client_response){0};
}

veil_result veil_http_url_check(const char *url)
{
    veil_result res = VEIL_ERR(VEIL_E_USAGE, "not an absolute http:// or https:// URL");
    char *scheme = NULL, *host = NULL, *user = NULL;
    CURLU *u = curl_url();
    VEIL_ENSURE(u, VEIL_E_NOMEM, "out of memory");
    if (!url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
        goto out;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        res = VEIL_ERR(VEIL_E_USAGE, "URL must not carry user info");
        goto out;
    }
    res = VEIL_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return res;
}
