/* A Binary HTTP response read as it arrives (RFC 9292 §3), for chunked
 * OHTTP: the decrypted bytes come in pieces, and each whole content chunk
 * goes to the sink the moment it is complete.
 *
 *   indeterminate-length response (framing 3):
 *     HEAD     framing | (1xx status, field lines..., 0)* | final status |
 *              field lines..., 0                                (parsed whole)
 *     CONTENT  (len > 0, bytes)* then 0                         (chunk by chunk)
 *     TRAILER  field lines..., 0                                (parsed whole)
 *     PADDING  zero bytes only
 *   known-length response (framing 1): buffered and decoded whole at the end.
 *
 * Every item is parsed from a cursor over the unparsed bytes and committed
 * only once complete; "need more" (the item runs past what has arrived) is
 * told apart from malformed input by checking lengths before each read. */
#include <string.h>

#include "client/client_internal.h"
#include "veil/mem.h"

enum { S_HEAD = 0, S_CONTENT, S_TRAILER, S_PADDING };

#define MAX_HEAD ((size_t)256 << 10)
#define MAX_FIELDS 512
#define MAX_INFORMATIONAL 32

/* 1: read; 0: not all here yet; -1: malformed. */
static int take_varint(veil_cursor *c, uint64_t *v)
{
    if (veil_cursor_remaining(c) < 1)
        return 0;
    size_t w = (size_t)1 << (veil_cursor_peek_ptr(c)[0] >> 6);
    if (veil_cursor_remaining(c) < w)
        return 0;
    return veil_ok(veil_cursor_varint(c, v)) ? 1 : -1;
}

static int take_bytes(veil_cursor *c, uint64_t n, const uint8_t **p)
{
    if (veil_cursor_remaining(c) < n)
        return 0;
    return veil_ok(veil_cursor_view(c, (size_t)n, p)) ? 1 : -1;
}

/* An indeterminate-length field section; fields go to add (when m != NULL). */
static int take_fields(veil_cursor *c, veil_bhttp_msg *m, bool trailer)
{
    for (size_t i = 0; i <= MAX_FIELDS; i++) {
        uint64_t nl, vl;
        const uint8_t *name, *value;
        int k = take_varint(c, &nl);
        if (k <= 0)
            return k;
        if (nl == 0)
            return 1; /* end of the section */
        if ((k = take_bytes(c, nl, &name)) <= 0 || (k = take_varint(c, &vl)) <= 0 ||
            (k = take_bytes(c, vl, &value)) <= 0)
            return k;
        if (m && !veil_ok(trailer ? veil_bhttp_add_trailer(m, name, nl, value, vl)
                                  : veil_bhttp_add_header(m, name, nl, value, vl)))
            return -1;
    }
    return -1; /* too many fields */
}

void rstream_init(rstream *s, const veil_client_sink *sink, size_t max)
{
    memset(s, 0, sizeof *s);
    veil_buf_init(&s->pending, max);
    veil_buf_init(&s->content, max);
    s->sink = sink;
}

void rstream_free(rstream *s)
{
    veil_buf_free(&s->pending);
    veil_buf_free(&s->content);
    veil_bhttp_msg_free(s->head);
    s->head = NULL;
}

/* HEAD: everything up to the end of the header section. */
static int parse_head(rstream *s, veil_cursor *c)
{
    uint64_t framing, status;
    veil_bhttp_msg *m = NULL;
    int k = take_varint(c, &framing);
    if (k <= 0)
        return k;
    if (framing == 1) {
        s->known = true; /* decoded whole at the end */
        return 1;
    }
    if (framing != 3)
        return -1;
    for (size_t i = 0; i <= MAX_INFORMATIONAL; i++) {
        if ((k = take_varint(c, &status)) <= 0)
            goto out;
        if (status >= 200 && status <= 599)
            break;
        if (status < 100 || status > 199 || i == MAX_INFORMATIONAL) {
            k = -1;
            goto out;
        }
        if ((k = take_fields(c, NULL, false)) <= 0) /* informational fields: skipped */
            goto out;
    }
    k = veil_ok(veil_bhttp_response_new((unsigned)status, &m)) ? 1 : -1;
    if (k > 0)
        k = take_fields(c, m, false);
    if (k > 0) {
        s->head = m;
        m = NULL;
    }
out:
    veil_bhttp_msg_free(m);
    return k;
}

static veil_result deliver(rstream *s, const uint8_t *p, size_t n)
{
    VEIL_GUARD(veil_buf_append(&s->content, p, n));
    s->n_chunks++;
    if (s->sink && s->sink->on_data && s->sink->on_data(s->sink->ctx, p, n) != 0) {
        s->aborted = true;
        return VEIL_ERR(VEIL_E_USAGE, "client: the caller stopped the stream");
    }
    return VEIL_OK;
}

/* Parse whatever is complete; keep the rest pending. */
static veil_result parse(rstream *s)
{
    veil_result r = VEIL_OK;
    size_t used = 0;
    for (size_t guard = 0; guard < s->pending.len + 2 && !s->known; guard++) {
        veil_cursor c = veil_cursor_init(s->pending.data + used, s->pending.len - used);
        int k = 0;
        if (s->state == S_HEAD) {
            k = parse_head(s, &c);
            if (k == 0 && s->pending.len - used > MAX_HEAD)
                k = -1;
            if (k > 0 && !s->known) {
                s->state = S_CONTENT;
                if (s->sink && s->sink->on_head && s->sink->on_head(s->sink->ctx, s->head)) {
                    s->aborted = true;
                    r = VEIL_ERR(VEIL_E_USAGE, "client: the caller stopped the stream");
                    goto out;
                }
            }
        } else if (s->state == S_CONTENT) {
            uint64_t n;
            const uint8_t *p;
            if ((k = take_varint(&c, &n)) > 0) {
                if (n == 0)
                    s->state = S_TRAILER;
                else if ((k = take_bytes(&c, n, &p)) > 0)
                    VEIL_TRY(r, deliver(s, p, (size_t)n));
            }
        } else if (s->state == S_TRAILER) {
            if ((k = take_fields(&c, NULL, true)) > 0)
                s->state = S_PADDING;
        } else { /* padding: zeros only */
            for (size_t i = 0; i < veil_cursor_remaining(&c); i++)
                VEIL_ENSURE_GOTO(r, veil_cursor_peek_ptr(&c)[i] == 0, VEIL_E_PROTOCOL,
                                 "bhttp: non-zero padding in the response");
            used = s->pending.len;
            break;
        }
        VEIL_ENSURE_GOTO(r, k >= 0, VEIL_E_PROTOCOL, "bhttp: malformed streamed response");
        if (k == 0)
            break;
        used += c.off;
    }
out:
    if (veil_ok(r) && !s->known && used > 0) { /* drop what was parsed */
        size_t rest = s->pending.len - used;
        memmove(s->pending.data, s->pending.data + used, rest);
        veil_wipe(s->pending.data + rest, used);
        s->pending.len = rest;
    }
    return r;
}

veil_result rstream_feed(rstream *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return VEIL_OK;
    VEIL_GUARD(veil_buf_append(&s->pending, p, n));
    return parse(s);
}

veil_result rstream_finish(rstream *s)
{
    if (s->known) { /* known length: the whole message at once */
        veil_bhttp_msg *m = NULL;
        size_t len = 0;
        VEIL_GUARD(veil_bhttp_decode(s->pending.data, s->pending.len, NULL, &m));
        if (veil_bhttp_is_request(m)) {
            veil_bhttp_msg_free(m);
            return VEIL_ERR(VEIL_E_PROTOCOL, "bhttp: the gateway answered with a request");
        }
        s->head = m;
        if (s->sink && s->sink->on_head && s->sink->on_head(s->sink->ctx, m))
            return VEIL_ERR(VEIL_E_USAGE, "client: the caller stopped the stream");
        const uint8_t *content = veil_bhttp_content(m, &len);
        return len ? deliver(s, content, len) : VEIL_OK;
    }
    VEIL_ENSURE(s->pending.len == 0, VEIL_E_PROTOCOL, "bhttp: the streamed response is truncated");
    /* RFC 9292 §3.8: trailing sections may be left out only while empty. */
    VEIL_ENSURE(s->state == S_PADDING || s->state == S_TRAILER ||
                    (s->state == S_CONTENT && s->n_chunks == 0),
                VEIL_E_PROTOCOL, "bhttp: the streamed response is truncated");
    return VEIL_OK;
}
