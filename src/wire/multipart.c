/* multipart/form-data (RFC 7578, RFC 2046 §5.1): a zero-copy parser that
 * reads the body only through a bounded cursor.
 *
 * The delimiter that ends a part is CRLF "--" boundary (RFC 2046 §5.1.1: the
 * CRLF before it belongs to the delimiter, not to the content), so a part's
 * content is exactly the bytes between its header block's blank line and the
 * next CRLF "--" boundary. What follows a delimiter decides the rest: "--"
 * closes the form, transport padding then CRLF opens the next part, anything
 * else means the boundary occurred inside content (which the sender must not
 * allow) and is refused. */
#include "veil/multipart.h"

#include <string.h>
#include <strings.h>

#include "veil/cursor.h"
#include "veil/mem.h"

struct veil_multipart {
    veil_multipart_part *v;
    size_t n, cap;
};

/* ---- character classes -------------------------------------------------- */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(uint8_t b)
{
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9'))
        return true;
    return b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

/* RFC 2046 §5.1.1 bchars (space allowed, but not last). */
static bool is_bchar(uint8_t b)
{
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9'))
        return true;
    return b != 0 && strchr("'()+_,-./:=? ", b) != NULL;
}

static bool is_ows(uint8_t b) { return b == ' ' || b == '\t'; }

/* A header value byte: HTAB, visible ASCII, space, obs-text (RFC 9110 §5.5).
 * Raw UTF-8 is allowed: browsers send non-ASCII filenames unencoded. */
static bool is_value_byte(uint8_t b) { return b == '\t' || (b >= 0x20 && b != 0x7F); }

static bool ascii_ieq(const uint8_t *p, size_t n, const char *lit)
{
    return n == strlen(lit) && strncasecmp((const char *)p, lit, n) == 0;
}

/* ---- small cursor helpers -------------------------------------------------- */

static void skip_ows(veil_cursor *c)
{
    while (!veil_cursor_at_end(c) && is_ows(*veil_cursor_peek_ptr(c)))
        c->off++;
}

static bool next_is_bytes(const veil_cursor *c, const uint8_t *p, size_t n)
{
    return veil_cursor_remaining(c) >= n && veil_public_equal(veil_cursor_peek_ptr(c), n, p, n);
}

static bool next_is(const veil_cursor *c, const char *lit)
{
    return next_is_bytes(c, (const uint8_t *)lit, strlen(lit));
}

/* Offset (from the cursor) of the first occurrence of needle[0..n) in the
 * unread bytes, or SIZE_MAX. Needles are short (at most 74 bytes), so the
 * naive scan is O(74 * len) at worst. */
static size_t find(const veil_cursor *c, const uint8_t *needle, size_t n)
{
    const uint8_t *p = veil_cursor_peek_ptr(c);
    size_t len = veil_cursor_remaining(c);
    size_t at = 0;
    while (len - at >= n) {
        const uint8_t *hit = memchr(p + at, needle[0], len - at - n + 1);
        if (!hit)
            return SIZE_MAX;
        at = (size_t)(hit - p);
        if (veil_public_equal(hit, n, needle, n))
            return at;
        at++;
    }
    return SIZE_MAX;
}

static veil_result dup_str(const uint8_t *p, size_t n, char **out)
{
    *out = veil_calloc(n + 1, 1);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "multipart: out of memory");
    if (n)
        memcpy(*out, p, n);
    return VEIL_OK;
}

static void free_str(char *s)
{
    if (s)
        veil_free_wiped(s, strlen(s) + 1);
}

/* ---- parameters (RFC 9110 §5.6.6) -------------------------------------------- */

/* One parameter value into `val` (NUL-terminated): a quoted-string
 * (§5.6.4, quoted-pairs unescaped) or, leniently, any run of visible bytes
 * other than ';' and '"' (clients leave boundaries with '=' or '/' unquoted
 * though RFC 2046 asks for quotes; the caller validates further). */
static veil_result param_value(veil_cursor *c, veil_buf *val)
{
    veil_buf_clear(val);
    if (next_is(c, "\"")) {
        c->off++;
        for (;;) {
            uint8_t b;
            VEIL_ENSURE(veil_ok(veil_cursor_u8(c, &b)), VEIL_E_PROTOCOL,
                        "multipart: quoted parameter value is not closed");
            if (b == '"')
                break;
            if (b == '\\')
                VEIL_ENSURE(veil_ok(veil_cursor_u8(c, &b)), VEIL_E_PROTOCOL,
                            "multipart: quoted parameter value ends in a backslash");
            VEIL_ENSURE(is_value_byte(b), VEIL_E_PROTOCOL,
                        "multipart: control character in a quoted parameter value");
            VEIL_GUARD(veil_buf_u8(val, b));
        }
    } else {
        while (!veil_cursor_at_end(c)) {
            uint8_t b = *veil_cursor_peek_ptr(c);
            if (b == ';' || is_ows(b))
                break;
            VEIL_ENSURE(b > 0x20 && b != 0x7F && b != '"', VEIL_E_PROTOCOL,
                        "multipart: invalid character in a parameter value");
            VEIL_GUARD(veil_buf_u8(val, b));
            c->off++;
        }
        VEIL_ENSURE(val->len > 0, VEIL_E_PROTOCOL, "multipart: parameter has an empty value");
    }
    return veil_buf_u8(val, 0);
}

/* The next `; name=value` of a parameter list. *name is a view of the
 * (token) name; *done is set at the end of the list. Empty list elements
 * (";;", a trailing ";") are allowed, as RFC 9110 §5.6.6 does. */
static veil_result next_param(veil_cursor *c, const uint8_t **name, size_t *name_len, veil_buf *val,
                              bool *done)
{
    *done = false;
    for (;;) {
        skip_ows(c);
        if (veil_cursor_at_end(c)) {
            *done = true;
            return VEIL_OK;
        }
        VEIL_ENSURE(next_is(c, ";"), VEIL_E_PROTOCOL,
                    "multipart: expected ';' before a header parameter");
        c->off++;
        skip_ows(c);
        if (!veil_cursor_at_end(c) && !next_is(c, ";"))
            break;
    }
    *name = veil_cursor_peek_ptr(c);
    *name_len = 0;
    while (!veil_cursor_at_end(c) && is_tchar(*veil_cursor_peek_ptr(c))) {
        c->off++;
        (*name_len)++;
    }
    VEIL_ENSURE(*name_len > 0, VEIL_E_PROTOCOL, "multipart: header parameter has no name");
    VEIL_ENSURE(next_is(c, "="), VEIL_E_PROTOCOL, "multipart: header parameter lacks '='");
    c->off++;
    return param_value(c, val);
}

/* The leading type of a header value, up to ';' or the end, trimmed. */
static void leading_type(veil_cursor *c, const uint8_t **p, size_t *n)
{
    skip_ows(c);
    *p = veil_cursor_peek_ptr(c);
    size_t len = 0;
    while (len < veil_cursor_remaining(c) && (*p)[len] != ';')
        len++;
    c->off += len;
    while (len > 0 && is_ows((*p)[len - 1]))
        len--;
    *n = len;
}

/* ---- boundary ---------------------------------------------------------------- */

static veil_result check_boundary(const uint8_t *b, size_t n)
{
    VEIL_ENSURE(n >= 1, VEIL_E_PROTOCOL, "multipart: boundary is empty");
    VEIL_ENSURE(n <= VEIL_MULTIPART_BOUNDARY_MAX, VEIL_E_PROTOCOL,
                "multipart: boundary is longer than 70 characters");
    for (size_t i = 0; i < n; i++)
        VEIL_ENSURE(is_bchar(b[i]), VEIL_E_PROTOCOL,
                    "multipart: boundary has a character RFC 2046 does not allow");
    VEIL_ENSURE(b[n - 1] != ' ', VEIL_E_PROTOCOL, "multipart: boundary ends in a space");
    return VEIL_OK;
}

veil_result veil_multipart_boundary(const char *content_type,
                                    char out[VEIL_MULTIPART_BOUNDARY_MAX + 1])
{
    veil_result res = VEIL_OK;
    veil_buf val;
    veil_buf_init(&val, 0); /* never longer than content_type */
    out[0] = '\0';
    VEIL_ENSURE_GOTO(res, content_type, VEIL_E_PROTOCOL, "multipart: no Content-Type");
    veil_cursor c = veil_cursor_init((const uint8_t *)content_type, strlen(content_type));
    const uint8_t *type;
    size_t type_len;
    leading_type(&c, &type, &type_len);
    VEIL_ENSURE_GOTO(res, ascii_ieq(type, type_len, "multipart/form-data"), VEIL_E_PROTOCOL,
                     "multipart: Content-Type is not multipart/form-data");
    bool found = false;
    for (;;) {
        const uint8_t *name;
        size_t name_len;
        bool done;
        VEIL_TRY(res, next_param(&c, &name, &name_len, &val, &done));
        if (done)
            break;
        if (!ascii_ieq(name, name_len, "boundary"))
            continue;
        VEIL_ENSURE_GOTO(res, !found, VEIL_E_PROTOCOL,
                         "multipart: Content-Type has two boundary parameters");
        found = true;
        VEIL_TRY(res, check_boundary(val.data, val.len - 1));
        memcpy(out, val.data, val.len);
    }
    VEIL_ENSURE_GOTO(res, found, VEIL_E_PROTOCOL,
                     "multipart: Content-Type has no boundary parameter");
out:
    if (!veil_ok(res))
        out[0] = '\0';
    veil_buf_free(&val);
    return res;
}

/* ---- part headers -------------------------------------------------------------- */

typedef struct part_head {
    char *name, *filename, *content_type;
    bool have_disposition;
} part_head;

static void part_head_free(part_head *h)
{
    free_str(h->name);
    free_str(h->filename);
    free_str(h->content_type);
    h->name = h->filename = h->content_type = NULL;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] (RFC 7578 §4.2). */
static veil_result disposition(veil_cursor *c, veil_buf *val, part_head *h)
{
    const uint8_t *type;
    size_t type_len;
    VEIL_ENSURE(!h->have_disposition, VEIL_E_PROTOCOL,
                "multipart: part has two Content-Disposition headers");
    h->have_disposition = true;
    leading_type(c, &type, &type_len);
    VEIL_ENSURE(ascii_ieq(type, type_len, "form-data"), VEIL_E_PROTOCOL,
                "multipart: part's Content-Disposition is not form-data");
    for (;;) {
        const uint8_t *name;
        size_t name_len;
        bool done;
        VEIL_GUARD(next_param(c, &name, &name_len, val, &done));
        if (done)
            break;
        char **slot = NULL;
        if (ascii_ieq(name, name_len, "name"))
            slot = &h->name;
        else if (ascii_ieq(name, name_len, "filename"))
            slot = &h->filename;
        if (!slot)
            continue; /* filename* and extensions: ignored (RFC 7578 §4.2) */
        VEIL_ENSURE(*slot == NULL, VEIL_E_PROTOCOL,
                    "multipart: Content-Disposition repeats a parameter");
        VEIL_GUARD(dup_str(val->data, val->len - 1, slot));
    }
    VEIL_ENSURE(h->name, VEIL_E_PROTOCOL, "multipart: part's Content-Disposition has no name");
    return VEIL_OK;
}

/* RFC 7578 §4.7: Content-Transfer-Encoding is deprecated; only the identity
 * encodings mean what a receiver would assume without it. */
static veil_result transfer_encoding(veil_cursor *c)
{
    const uint8_t *v;
    size_t n;
    leading_type(c, &v, &n);
    VEIL_ENSURE(veil_cursor_at_end(c) && (ascii_ieq(v, n, "binary") || ascii_ieq(v, n, "8bit") ||
                                          ascii_ieq(v, n, "7bit")),
                VEIL_E_UNSUPPORTED,
                "multipart: part uses a Content-Transfer-Encoding other than binary");
    return VEIL_OK;
}

/* One header line's name and value (value trimmed); dispatch by name. */
static veil_result header_line(const uint8_t *p, size_t n, veil_buf *val, part_head *h)
{
    VEIL_ENSURE(!is_ows(p[0]), VEIL_E_PROTOCOL,
                "multipart: folded (obsolete) header line in a part");
    size_t colon = 0;
    while (colon < n && p[colon] != ':') {
        VEIL_ENSURE(is_tchar(p[colon]), VEIL_E_PROTOCOL,
                    "multipart: part header name has an invalid character");
        colon++;
    }
    VEIL_ENSURE(colon < n, VEIL_E_PROTOCOL, "multipart: part header line has no colon");
    VEIL_ENSURE(colon > 0, VEIL_E_PROTOCOL, "multipart: part header name is empty");
    for (size_t i = colon + 1; i < n; i++)
        VEIL_ENSURE(is_value_byte(p[i]), VEIL_E_PROTOCOL,
                    "multipart: control character in a part header (bare CR or LF?)");
    veil_cursor v = veil_cursor_init(p + colon + 1, n - colon - 1);
    if (ascii_ieq(p, colon, "content-disposition"))
        return disposition(&v, val, h);
    if (ascii_ieq(p, colon, "content-transfer-encoding"))
        return transfer_encoding(&v);
    if (ascii_ieq(p, colon, "content-type")) {
        const uint8_t *t;
        size_t tn;
        VEIL_ENSURE(h->content_type == NULL, VEIL_E_PROTOCOL,
                    "multipart: part has two Content-Type headers");
        skip_ows(&v);
        t = veil_cursor_peek_ptr(&v);
        tn = veil_cursor_remaining(&v);
        while (tn > 0 && is_ows(t[tn - 1]))
            tn--;
        VEIL_ENSURE(tn > 0, VEIL_E_PROTOCOL, "multipart: part's Content-Type is empty");
        return dup_str(t, tn, &h->content_type);
    }
    return VEIL_OK; /* other headers carry nothing form-data needs */
}

/* The header block up to and including its blank line, within `budget`. */
static veil_result part_headers(veil_cursor *c, size_t budget, veil_buf *val, part_head *h)
{
    static const uint8_t crlf[2] = {'\r', '\n'};
    size_t used = 0;
    for (;;) {
        size_t eol = find(c, crlf, 2);
        if (eol == SIZE_MAX) {
            VEIL_ENSURE(veil_cursor_remaining(c) <= budget - used, VEIL_E_NOMEM,
                        "multipart: part header block is too large");
            return VEIL_ERR(VEIL_E_PROTOCOL, "multipart: body ends inside a part's headers");
        }
        VEIL_ENSURE(eol + 2 <= budget - used, VEIL_E_NOMEM,
                    "multipart: part header block is too large");
        used += eol + 2;
        const uint8_t *line;
        VEIL_GUARD(veil_cursor_view(c, eol, &line));
        VEIL_GUARD(veil_cursor_skip(c, 2));
        if (eol == 0)
            break;
        VEIL_GUARD(header_line(line, eol, val, h));
    }
    VEIL_ENSURE(h->have_disposition, VEIL_E_PROTOCOL,
                "multipart: part has no Content-Disposition header");
    return VEIL_OK;
}

/* ---- the form -------------------------------------------------------------------- */

static veil_result push_part(veil_multipart *m, part_head *h, const uint8_t *data, size_t len)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        veil_multipart_part *v = veil_calloc(cap, sizeof *v);
        VEIL_ENSURE(v, VEIL_E_NOMEM, "multipart: out of memory");
        if (m->n)
            memcpy(v, m->v, m->n * sizeof *v);
        veil_free(m->v);
        m->v = v;
        m->cap = cap;
    }
    veil_multipart_part *p = &m->v[m->n++];
    p->name = h->name;
    p->filename = h->filename;
    p->content_type = h->content_type;
    p->data = len ? data : NULL;
    p->len = len;
    *h = (part_head){0}; /* its strings are the form's now */
    return VEIL_OK;
}

static void limits_fill(const veil_multipart_limits *in, veil_multipart_limits *l)
{
    *l = in ? *in : (veil_multipart_limits){0};
    if (!l->max_parts)
        l->max_parts = VEIL_MULTIPART_DEFAULT_MAX_PARTS;
    if (!l->max_header_bytes)
        l->max_header_bytes = VEIL_MULTIPART_DEFAULT_MAX_HEADER_BYTES;
    if (!l->max_part_bytes)
        l->max_part_bytes = SIZE_MAX;
    if (!l->max_field_bytes)
        l->max_field_bytes = VEIL_MULTIPART_DEFAULT_MAX_FIELD_BYTES;
}

/* After a delimiter: "--" (close) sets *closed; otherwise transport padding
 * and CRLF must follow (RFC 2046 §5.1.1). */
static veil_result after_delimiter(veil_cursor *c, bool *closed)
{
    *closed = false;
    if (next_is(c, "--")) {
        *closed = true; /* the epilogue, if any, is ignored */
        return VEIL_OK;
    }
    skip_ows(c);
    VEIL_ENSURE(!veil_cursor_at_end(c), VEIL_E_PROTOCOL,
                "multipart: body ends after a boundary without the closing \"--\"");
    VEIL_ENSURE(next_is(c, "\r\n"), VEIL_E_PROTOCOL,
                "multipart: boundary line has unexpected bytes (is the boundary inside a part?)");
    c->off += 2;
    return VEIL_OK;
}

veil_result veil_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                                 const veil_multipart_limits *limits, veil_multipart **out)
{
    veil_result res = VEIL_OK;
    veil_multipart *m = NULL;
    part_head h = {0};
    veil_multipart_limits lim;
    char boundary[VEIL_MULTIPART_BOUNDARY_MAX + 1];
    uint8_t delim[VEIL_MULTIPART_BOUNDARY_MAX + 4]; /* CRLF "--" boundary */
    veil_buf val;
    veil_buf_init(&val, 0); /* a value is never longer than its header block */

    *out = NULL;
    limits_fill(limits, &lim);
    VEIL_TRY(res, veil_multipart_boundary(content_type, boundary));
    size_t blen = strlen(boundary);
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    size_t dlen = blen + 4;

    m = veil_calloc(1, sizeof *m);
    VEIL_ENSURE_GOTO(res, m, VEIL_E_NOMEM, "multipart: out of memory");
    veil_cursor c = veil_cursor_init(body, len);

    /* The opening dash-boundary ("--" boundary: the delimiter without its
     * CRLF) starts the body or follows the preamble's CRLF; the preamble is
     * ignored. */
    size_t at = 0;
    if (!next_is_bytes(&c, delim + 2, dlen - 2)) {
        at = find(&c, delim, dlen);
        VEIL_ENSURE_GOTO(res, at != SIZE_MAX, VEIL_E_PROTOCOL,
                         "multipart: body has no opening boundary");
        at += 2;
    }
    VEIL_TRY(res, veil_cursor_skip(&c, at + dlen - 2));
    bool closed;
    VEIL_TRY(res, after_delimiter(&c, &closed));
    VEIL_ENSURE_GOTO(res, !closed, VEIL_E_PROTOCOL, "multipart: form has no parts");

    while (!closed) {
        VEIL_ENSURE_GOTO(res, m->n < lim.max_parts, VEIL_E_NOMEM, "multipart: too many parts");
        VEIL_TRY(res, part_headers(&c, lim.max_header_bytes, &val, &h));
        size_t clen = find(&c, delim, dlen);
        VEIL_ENSURE_GOTO(res, clen != SIZE_MAX, VEIL_E_PROTOCOL,
                         "multipart: body ends inside a part (no closing boundary)");
        VEIL_ENSURE_GOTO(res, clen <= lim.max_part_bytes, VEIL_E_NOMEM,
                         "multipart: part is too large");
        VEIL_ENSURE_GOTO(res, h.filename || clen <= lim.max_field_bytes, VEIL_E_NOMEM,
                         "multipart: form field is too large");
        const uint8_t *data;
        VEIL_TRY(res, veil_cursor_view(&c, clen, &data));
        VEIL_TRY(res, veil_cursor_skip(&c, dlen));
        VEIL_TRY(res, push_part(m, &h, data, clen));
        VEIL_TRY(res, after_delimiter(&c, &closed));
    }
    *out = m;
    m = NULL;
out:
    part_head_free(&h);
    veil_multipart_free(m);
    veil_buf_free(&val);
    return res;
}

size_t veil_multipart_count(const veil_multipart *m) { return m ? m->n : 0; }

const veil_multipart_part *veil_multipart_get(const veil_multipart *m, size_t i)
{
    return m && i < m->n ? &m->v[i] : NULL;
}

const veil_multipart_part *veil_multipart_find(const veil_multipart *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n; i++)
        if (strcmp(m->v[i].name, name) == 0)
            return &m->v[i];
    return NULL;
}

void veil_multipart_free(veil_multipart *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free_str((char *)m->v[i].name);
        free_str((char *)m->v[i].filename);
        free_str((char *)m->v[i].content_type);
    }
    veil_free_wiped(m->v, m->cap * sizeof *m->v);
    veil_free_wiped(m, sizeof *m);
}
