/* Upstream inference servers on loopback inside the TEE, through the http.h
 * client: relaying (streamed, server-sent events re-framed one event per
 * writer call), buffered exchanges, and multipart bodies to send them.
 *
 * Only Content-Type and, when configured, Authorization go upstream: the
 * client's own headers never leave the app. */
#include "gateway/upstream_internal.h"

#include <stdio.h>
#include <string.h>

#include "veil/http.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define MAX_EVENT ((size_t)1 << 20) /* one server-sent event */

/* ---- request -------------------------------------------------------------------- */

typedef struct auth {
    veil_http_header h;
    char *value;
    size_t len;
} auth;

static veil_result auth_init(const veil_upstream *up, auth *a)
{
    memset(a, 0, sizeof *a);
    if (!up->api_key)
        return VEIL_OK;
    a->len = strlen("Bearer ") + strlen(up->api_key) + 1;
    a->value = veil_calloc(a->len, 1);
    VEIL_ENSURE(a->value, VEIL_E_NOMEM, "upstream: out of memory");
    snprintf(a->value, a->len, "Bearer %s", up->api_key);
    a->h.name = "Authorization";
    a->h.value = a->value;
    return VEIL_OK;
}

static void auth_free(auth *a) { veil_free_wiped(a->value, a->len); }

static void request_init(veil_http_client_request *rq, const veil_upstream *up, const auth *a,
                         const char *content_type, const void *body, size_t len)
{
    memset(rq, 0, sizeof *rq);
    rq->method = "POST";
    rq->url = up->url;
    rq->content_type = content_type;
    rq->headers = a->value ? &a->h : NULL;
    rq->n_headers = a->value ? 1 : 0;
    rq->body = body;
    rq->body_len = len;
}

static void opts_init(veil_http_client_opts *o, const veil_upstream *up)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = up->connect_timeout_ms;
    o->timeout_ms = up->timeout_ms;
    o->max_response = up->max_response;
}

static veil_upstream_outcome classify(veil_http_failure f)
{
    switch (f) {
    case VEIL_HTTP_FAIL_CONNECT: return VEIL_UPSTREAM_UNREACHABLE;
    case VEIL_HTTP_FAIL_TIMEOUT: return VEIL_UPSTREAM_TIMEOUT;
    default: return VEIL_UPSTREAM_FAILED;
    }
}

/* ---- relay ------------------------------------------------------------------------ */

typedef struct relay {
    const veil_app_writer *w;
    veil_result wres; /* the writer's failure, if any */
    bool head_sent, sse, bad_status, event_too_large;
    veil_buf pending; /* SSE: the event being received */
    size_t scan_from;
} relay;

/* End of the first event in p[0..len) (just past its blank line), or 0.
 * Lines end in LF or CRLF (a CR-only stream is passed on at its end). */
static size_t event_end(const uint8_t *p, size_t len, size_t *from)
{
    for (size_t i = *from; i < len; i++) {
        if (p[i] != '\n')
            continue;
        if (i + 1 < len && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
        if (i + 2 >= len) { /* the blank line may still be coming */
            *from = i;
            return 0;
        }
    }
    *from = len;
    return 0;
}

static int relay_write(relay *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    r->wres = r->w->body(r->w->arg, p, n);
    return veil_ok(r->wres) ? 0 : 1;
}

static int on_head(void *ctx, long status, const char *content_type)
{
    relay *r = ctx;
    if (status < 200 || status >= 500) {
        r->bad_status = true;
        return 1;
    }
    r->sse = veil_http_content_type_is(content_type, "text/event-stream");
    veil_app_header h[2];
    size_t n = 0;
    if (content_type && content_type[0])
        h[n++] = (veil_app_header){"content-type", content_type};
    if (r->sse)
        h[n++] = (veil_app_header){"cache-control", "no-cache"};
    r->wres = r->w->head(r->w->arg, (unsigned)status, h, n);
    if (!veil_ok(r->wres))
        return 1;
    r->head_sent = true;
    return 0;
}

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
    relay *r = ctx;
    if (!r->sse)
        return relay_write(r, p, n);
    if (!veil_ok(veil_buf_append(&r->pending, p, n))) {
        r->event_too_large = true;
        return 1;
    }
    for (;;) {
        size_t end = event_end(r->pending.data, r->pending.len, &r->scan_from);
        if (end == 0)
            return 0;
        if (relay_write(r, r->pending.data, end) != 0)
            return 1;
        size_t rest = r->pending.len - end;
        memmove(r->pending.data, r->pending.data + end, rest);
        veil_wipe(r->pending.data + rest, end);
        r->pending.len = rest;
        r->scan_from = 0;
    }
}

veil_result veil_upstream_relay(const veil_upstream *up, const char *content_type, const void *body,
                                size_t len, const veil_app_writer *w,
                                veil_upstream_outcome *outcome)
{
    veil_result res = VEIL_OK;
    veil_http_client_request rq;
    veil_http_client_opts o;
    veil_http_client_response resp;
    relay r = {.w = w, .wres = VEIL_OK};
    auth a;
    veil_buf_init(&r.pending, MAX_EVENT);
    memset(&resp, 0, sizeof resp);
    veil_buf_init(&resp.body, 0);

    *outcome = VEIL_UPSTREAM_FAILED;
    VEIL_TRY(res, auth_init(up, &a));
    request_init(&rq, up, &a, content_type, body, len);
    opts_init(&o, up);
    veil_http_client_sink sink = {on_head, on_body, NULL, &r};
    res = veil_http_fetch_stream(&rq, &o, &sink, &resp);
    if (!veil_ok(r.wres)) {
        *outcome = VEIL_UPSTREAM_WRITER;
        res = r.wres;
    } else if (r.head_sent) {
        if (veil_ok(res) && relay_write(&r, r.pending.data, r.pending.len) != 0) {
            *outcome = VEIL_UPSTREAM_WRITER;
            res = r.wres;
        } else if (veil_ok(res)) {
            *outcome = VEIL_UPSTREAM_DONE;
        } else {
            *outcome = VEIL_UPSTREAM_BROKEN;
            res = r.event_too_large
                      ? VEIL_ERR(VEIL_E_NOMEM, "upstream: server-sent event over 1 MiB")
                      : VEIL_ERR(VEIL_E_PROTOCOL, "upstream: the stream broke mid-response");
        }
    } else {
        *outcome = r.bad_status ? VEIL_UPSTREAM_FAILED : classify(resp.failure);
        if (veil_ok(res)) /* cannot happen: a head always precedes success */
            res = VEIL_ERR(VEIL_E_PROTOCOL, "upstream: no response head");
    }
out:
    auth_free(&a);
    veil_buf_free(&r.pending);
    veil_http_client_response_free(&resp);
    return res;
}

veil_result veil_upstream_fetch(const veil_upstream *up, const char *content_type, const void *body,
                                size_t len, long *status, veil_buf *out,
                                veil_upstream_outcome *outcome)
{
    veil_result res = VEIL_OK;
    veil_http_client_request rq;
    veil_http_client_opts o;
    veil_http_client_response resp;
    auth a;
    memset(&resp, 0, sizeof resp);
    veil_buf_init(&resp.body, 0);

    *outcome = VEIL_UPSTREAM_FAILED;
    *status = 0;
    VEIL_TRY(res, auth_init(up, &a));
    request_init(&rq, up, &a, content_type, body, len);
    opts_init(&o, up);
    res = veil_http_fetch(&rq, &o, &resp);
    if (!veil_ok(res)) {
        *outcome = classify(resp.failure);
        goto out;
    }
    VEIL_ENSURE_GOTO(res, resp.status >= 200 && resp.status < 500, VEIL_E_PROTOCOL,
                     "upstream: server answered with an error");
    VEIL_TRY(res, veil_buf_append(out, resp.body.data, resp.body.len));
    *status = resp.status;
    *outcome = VEIL_UPSTREAM_DONE;
out:
    auth_free(&a);
    veil_http_client_response_free(&resp);
    return res;
}

/* ---- multipart bodies ----------------------------------------------------------------- */

veil_result veil_upstream_form_init(veil_upstream_form *f)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[16];
    memset(f, 0, sizeof *f);
    veil_buf_init(&f->body, 0);
    VEIL_GUARD(veil_random_bytes(rnd, sizeof rnd));
    /* 128 random bits: the content cannot contain the boundary unless it
     * was chosen after seeing it. */
    memcpy(f->boundary, "veil-", 5);
    for (size_t i = 0; i < sizeof rnd; i++) {
        f->boundary[5 + 2 * i] = hex[rnd[i] >> 4];
        f->boundary[6 + 2 * i] = hex[rnd[i] & 15];
    }
    snprintf(f->content_type, sizeof f->content_type, "multipart/form-data; boundary=%s",
             f->boundary);
    return VEIL_OK;
}

static veil_result quoted(veil_buf *b, const char *s)
{
    VEIL_GUARD(veil_buf_u8(b, '"'));
    for (; *s; s++) {
        if (*s == '"')
            VEIL_GUARD(veil_buf_append(b, "%22", 3));
        else if (*s == '\r')
            VEIL_GUARD(veil_buf_append(b, "%0D", 3));
        else if (*s == '\n')
            VEIL_GUARD(veil_buf_append(b, "%0A", 3));
        else
            VEIL_GUARD(veil_buf_u8(b, (uint8_t)*s));
    }
    return veil_buf_u8(b, '"');
}

static veil_result str(veil_buf *b, const char *s) { return veil_buf_append(b, s, strlen(s)); }

veil_result veil_upstream_form_add(veil_upstream_form *f, const char *name, const char *filename,
                                   const char *ctype, const void *p, size_t n)
{
    veil_buf *b = &f->body;
    VEIL_ENSURE(!ctype || !strpbrk(ctype, "\r\n"), VEIL_E_USAGE,
                "upstream: part content type has a line break");
    VEIL_GUARD(str(b, "--"));
    VEIL_GUARD(str(b, f->boundary));
    VEIL_GUARD(str(b, "\r\nContent-Disposition: form-data; name="));
    VEIL_GUARD(quoted(b, name));
    if (filename) {
        VEIL_GUARD(str(b, "; filename="));
        VEIL_GUARD(quoted(b, filename));
    }
    if (ctype) {
        VEIL_GUARD(str(b, "\r\nContent-Type: "));
        VEIL_GUARD(str(b, ctype));
    }
    VEIL_GUARD(str(b, "\r\n\r\n"));
    VEIL_GUARD(veil_buf_append(b, p, n));
    return str(b, "\r\n");
}

veil_result veil_upstream_form_finish(veil_upstream_form *f)
{
    VEIL_GUARD(str(&f->body, "--"));
    VEIL_GUARD(str(&f->body, f->boundary));
    return str(&f->body, "--\r\n");
}

void veil_upstream_form_free(veil_upstream_form *f) { veil_buf_free(&f->body); }
