/* Binary HTTP (RFC 9292): the message, its validity rules, builders, getters
 * and the decoder. The encoder (bhttp_encode.c) works through the public
 * getters only.
 *
 * Storage: control data are NUL-terminated heap strings; each field line is
 * one heap block "name\0value\0" (neither part can hold a NUL, see
 * check_field); content is a veil_buf. All of it is wiped when freed. */
#include "veil/bhttp.h"

#include <string.h>

#include "veil/mem.h"

enum { CTL_METHOD, CTL_SCHEME, CTL_AUTHORITY, CTL_PATH, CTL_COUNT };

/* Which field section a line belongs to: pseudo-fields are barred from
 * trailers only (RFC 9292 §3.6). */
typedef enum section { SEC_INFORMATIONAL, SEC_HEADER, SEC_TRAILER } section;

typedef struct field_list {
    veil_bhttp_field *v;
    size_t n, cap;
} field_list;

typedef struct info_resp {
    unsigned status;
    field_list fields;
} info_resp;

struct veil_bhttp_msg {
    bool is_request;
    veil_bhttp_framing framing;
    char *ctl[CTL_COUNT]; /* requests only; NUL-terminated */
    size_t ctl_len[CTL_COUNT];
    unsigned status; /* responses only: final status */
    info_resp *info;
    size_t ninfo, info_cap;
    field_list header, trailer;
    veil_buf content;
    size_t padding;
    unsigned sections; /* header/content/trailer sections present or to emit */
};

/* ---- validity ------------------------------------------------------------ */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(uint8_t b)
{
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9'))
        return true;
    return b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

static bool is_upper(uint8_t b) { return b >= 'A' && b <= 'Z'; }

/* RFC 9292 §3.6: these pseudo-fields duplicate the fixed control data. */
static bool is_reserved_pseudo(const uint8_t *name, size_t n)
{
    static const char *const reserved[] = {":method", ":scheme", ":authority", ":path", ":status"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (veil_public_equal(name, n, reserved[i], strlen(reserved[i])))
            return true;
    return false;
}

static bool is_pseudo(const veil_bhttp_field *f) { return f->name[0] == ':'; }

/* RFC 9110 §5.1 (token) and RFC 9113 §8.2.1 (lowercase; one leading colon for
 * pseudo-fields only). Returns NULL when valid, else why not. */
static const char *check_name(const uint8_t *name, size_t n)
{
    if (n == 0)
        return "bhttp: field name is empty";
    size_t start = name[0] == ':' ? 1 : 0;
    if (start == n)
        return "bhttp: pseudo-field name is empty after its colon";
    for (size_t i = start; i < n; i++) {
        if (is_upper(name[i]))
            return "bhttp: field name has uppercase letter";
        if (!is_tchar(name[i]))
            return "bhttp: field name has a character not allowed in a token";
    }
    return NULL;
}

/* RFC 9113 §8.2.1, adopted for values by RFC 9292 §3.6. */
static const char *check_value(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0 || v[i] == '\r' || v[i] == '\n')
            return "bhttp: field value contains NUL, CR or LF";
    if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        return "bhttp: field value starts or ends with whitespace";
    return NULL;
}

/* A line about to be appended to `fl` (of kind `sec`). */
static const char *check_field(const field_list *fl, section sec, const uint8_t *name, size_t nlen,
                               const uint8_t *value, size_t vlen)
{
    const char *why = check_name(name, nlen);
    if (why)
        return why;
    if (name[0] == ':') {
        if (is_reserved_pseudo(name, nlen))
            return "bhttp: field named :method, :scheme, :authority, :path or :status";
        if (sec == SEC_TRAILER)
            return "bhttp: pseudo-field in a trailer section";
        if (fl->n > 0 && !is_pseudo(&fl->v[fl->n - 1]))
            return "bhttp: pseudo-field after a regular field";
    }
    return check_value(value, vlen);
}

/* Method: a token (RFC 9110 §9.1). Scheme, authority, path: no control
 * characters, SP or DEL (stricter than RFC 9292, see bhttp.h). */
static const char *check_control(int which, const uint8_t *p, size_t n)
{
    static const char *const bad[CTL_COUNT] = {
        "bhttp: method is not a token",
        "bhttp: scheme has a control character, space or DEL",
        "bhttp: authority has a control character, space or DEL",
        "bhttp: path has a control character, space or DEL",
    };
    if (which == CTL_METHOD && n == 0)
        return bad[which];
    for (size_t i = 0; i < n; i++) {
        bool ok = which == CTL_METHOD ? is_tchar(p[i]) : (p[i] > 0x20 && p[i] != 0x7f);
        if (!ok)
            return bad[which];
    }
    return NULL;
}

/* ---- storage ------------------------------------------------------------- */

/* Make room for one more element in a heap array (no realloc: copy, free). */
static veil_result grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return VEIL_OK;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = veil_calloc(ncap, elem);
    VEIL_ENSURE(p != NULL && ncap > *cap, VEIL_E_NOMEM, "bhttp: out of memory");
    if (n)
        memcpy(p, *arr, n * elem);
    veil_free(*arr);
    *arr = p;
    *cap = ncap;
    return VEIL_OK;
}

static void field_free(veil_bhttp_field *f)
{
    veil_free_wiped((void *)(uintptr_t)f->name, f->name_len + f->value_len + 2);
}

static void field_list_free(field_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        field_free(&fl->v[i]);
    veil_free(fl->v);
    fl->v = NULL;
    fl->n = fl->cap = 0;
}

/* Append a copy of one field line after checking it; builders (`cls` usage)
 * lowercase the name first, the decoder (`cls` protocol) takes it as sent. */
static veil_result add_field(field_list *fl, section sec, const uint8_t *name, size_t nlen,
                             const uint8_t *value, size_t vlen, veil_errclass cls)
{
    veil_result res = VEIL_OK;
    uint8_t *blk = NULL;
    size_t size = nlen + vlen + 2;
    VEIL_ENSURE_GOTO(res, (name || nlen == 0) && (value || vlen == 0), VEIL_E_USAGE,
                     "bhttp: field name or value is NULL");
    VEIL_ENSURE_GOTO(res, nlen < SIZE_MAX / 2 && vlen < SIZE_MAX / 2, VEIL_E_USAGE,
                     "bhttp: field line too large");
    blk = veil_calloc(size, 1);
    VEIL_ENSURE_GOTO(res, blk != NULL, VEIL_E_NOMEM, "bhttp: out of memory");
    if (nlen)
        memcpy(blk, name, nlen);
    if (vlen)
        memcpy(blk + nlen + 1, value, vlen);
    for (size_t i = 0; cls == VEIL_E_USAGE && i < nlen; i++)
        if (is_upper(blk[i]))
            blk[i] = (uint8_t)(blk[i] - 'A' + 'a');
    const char *why = check_field(fl, sec, blk, nlen, blk + nlen + 1, vlen);
    VEIL_ENSURE_GOTO(res, why == NULL, cls, why);
    VEIL_TRY(res, grow((void **)&fl->v, &fl->cap, fl->n, sizeof fl->v[0]));
    fl->v[fl->n++] = (veil_bhttp_field){blk, nlen, blk + nlen + 1, vlen};
    blk = NULL;
out:
    veil_free_wiped(blk, size);
    return res;
}

static veil_result set_control(veil_bhttp_msg *m, int which, const uint8_t *p, size_t n,
                               veil_errclass cls)
{
    const char *why = check_control(which, p, n);
    VEIL_ENSURE(why == NULL, cls, why);
    char *s = veil_calloc(n + 1, 1);
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "bhttp: out of memory");
    if (n)
        memcpy(s, p, n);
    veil_free_wiped(m->ctl[which], m->ctl_len[which] + 1);
    m->ctl[which] = s;
    m->ctl_len[which] = n;
    return VEIL_OK;
}

static veil_result push_informational(veil_bhttp_msg *m, unsigned status)
{
    VEIL_GUARD(grow((void **)&m->info, &m->info_cap, m->ninfo, sizeof m->info[0]));
    m->info[m->ninfo++] = (info_resp){status, {NULL, 0, 0}};
    return VEIL_OK;
}

static veil_bhttp_msg *msg_alloc(bool is_request)
{
    veil_bhttp_msg *m = veil_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->is_request = is_request;
    m->framing = VEIL_BHTTP_KNOWN_LENGTH;
    veil_buf_init(&m->content, 0);
    m->sections = 3;
    return m;
}

void veil_bhttp_msg_free(veil_bhttp_msg *m)
{
    if (!m)
        return;
    for (int i = 0; i < CTL_COUNT; i++)
        veil_free_wiped(m->ctl[i], m->ctl_len[i] + 1);
    for (size_t i = 0; i < m->ninfo; i++)
        field_list_free(&m->info[i].fields);
    veil_free(m->info);
    field_list_free(&m->header);
    field_list_free(&m->trailer);
    veil_buf_free(&m->content);
    veil_free_wiped(m, sizeof *m);
}

/* ---- builders ------------------------------------------------------------ */

veil_result veil_bhttp_request_new(const char *method, const char *scheme, const char *authority,
                                   const char *path, veil_bhttp_msg **out)
{
    veil_result res = VEIL_OK;
    veil_bhttp_msg *m = NULL;
    const char *parts[CTL_COUNT] = {method, scheme, authority, path};
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "bhttp: no output for the new request");
    *out = NULL;
    m = msg_alloc(true);
    VEIL_ENSURE_GOTO(res, m != NULL, VEIL_E_NOMEM, "bhttp: out of memory");
    for (int i = 0; i < CTL_COUNT; i++) {
        VEIL_ENSURE_GOTO(res, parts[i] != NULL, VEIL_E_USAGE,
                         "bhttp: method, scheme, authority and path must not be NULL");
        VEIL_TRY(res, set_control(m, i, (const uint8_t *)parts[i], strlen(parts[i]), VEIL_E_USAGE));
    }
    *out = m;
    m = NULL;
out:
    veil_bhttp_msg_free(m);
    return res;
}

veil_result veil_bhttp_response_new(unsigned status, veil_bhttp_msg **out)
{
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "bhttp: no output for the new response");
    *out = NULL;
    VEIL_ENSURE(status >= 200 && status <= 599, VEIL_E_USAGE,
                "bhttp: final status outside 200..599");
    veil_bhttp_msg *m = msg_alloc(false);
    VEIL_ENSURE(m != NULL, VEIL_E_NOMEM, "bhttp: out of memory");
    m->status = status;
    *out = m;
    return VEIL_OK;
}

veil_result veil_bhttp_add_informational(veil_bhttp_msg *m, unsigned status)
{
    VEIL_ENSURE(m != NULL && !m->is_request, VEIL_E_USAGE,
                "bhttp: informational responses belong to responses only");
    VEIL_ENSURE(status >= 100 && status <= 199, VEIL_E_USAGE,
                "bhttp: informational status outside 100..199");
    return push_informational(m, status);
}

veil_result veil_bhttp_add_informational_field(veil_bhttp_msg *m, const void *name, size_t name_len,
                                               const void *value, size_t value_len)
{
    VEIL_ENSURE(m != NULL && m->ninfo > 0, VEIL_E_USAGE,
                "bhttp: add an informational response before its fields");
    return add_field(&m->info[m->ninfo - 1].fields, SEC_INFORMATIONAL, name, name_len, value,
                     value_len, VEIL_E_USAGE);
}

veil_result veil_bhttp_add_header(veil_bhttp_msg *m, const void *name, size_t name_len,
                                  const void *value, size_t value_len)
{
    VEIL_ENSURE(m != NULL, VEIL_E_USAGE, "bhttp: no message");
    return add_field(&m->header, SEC_HEADER, name, name_len, value, value_len, VEIL_E_USAGE);
}

veil_result veil_bhttp_add_trailer(veil_bhttp_msg *m, const void *name, size_t name_len,
                                   const void *value, size_t value_len)
{
    VEIL_ENSURE(m != NULL, VEIL_E_USAGE, "bhttp: no message");
    return add_field(&m->trailer, SEC_TRAILER, name, name_len, value, value_len, VEIL_E_USAGE);
}

veil_result veil_bhttp_set_content(veil_bhttp_msg *m, const void *p, size_t n)
{
    VEIL_ENSURE(m != NULL, VEIL_E_USAGE, "bhttp: no message");
    veil_buf_clear(&m->content);
    return veil_bhttp_append_content(m, p, n);
}

veil_result veil_bhttp_append_content(veil_bhttp_msg *m, const void *p, size_t n)
{
    VEIL_ENSURE(m != NULL && (p != NULL || n == 0), VEIL_E_USAGE, "bhttp: no message or content");
    return veil_buf_append(&m->content, p, n);
}

void veil_bhttp_set_padding(veil_bhttp_msg *m, size_t n)
{
    if (m)
        m->padding = n;
}

void veil_bhttp_set_min_sections(veil_bhttp_msg *m, unsigned n)
{
    if (m)
        m->sections = n > 3 ? 3 : n;
}

/* ---- getters ------------------------------------------------------------- */

bool veil_bhttp_is_request(const veil_bhttp_msg *m) { return m->is_request; }
veil_bhttp_framing veil_bhttp_framing_of(const veil_bhttp_msg *m) { return m->framing; }
static const char *ctl(const veil_bhttp_msg *m, int i) { return m->ctl[i] ? m->ctl[i] : ""; }
const char *veil_bhttp_method(const veil_bhttp_msg *m) { return ctl(m, CTL_METHOD); }
const char *veil_bhttp_scheme(const veil_bhttp_msg *m) { return ctl(m, CTL_SCHEME); }
const char *veil_bhttp_authority(const veil_bhttp_msg *m) { return ctl(m, CTL_AUTHORITY); }
const char *veil_bhttp_path(const veil_bhttp_msg *m) { return ctl(m, CTL_PATH); }
unsigned veil_bhttp_status(const veil_bhttp_msg *m) { return m->status; }
size_t veil_bhttp_informational_count(const veil_bhttp_msg *m) { return m->ninfo; }
size_t veil_bhttp_padding(const veil_bhttp_msg *m) { return m->padding; }
unsigned veil_bhttp_min_sections(const veil_bhttp_msg *m) { return m->sections; }

unsigned veil_bhttp_informational_status(const veil_bhttp_msg *m, size_t i)
{
    return i < m->ninfo ? m->info[i].status : 0;
}

static veil_bhttp_fields view(const field_list *fl) { return (veil_bhttp_fields){fl->v, fl->n}; }

veil_bhttp_fields veil_bhttp_informational_fields(const veil_bhttp_msg *m, size_t i)
{
    return i < m->ninfo ? view(&m->info[i].fields) : (veil_bhttp_fields){NULL, 0};
}

veil_bhttp_fields veil_bhttp_headers(const veil_bhttp_msg *m) { return view(&m->header); }
veil_bhttp_fields veil_bhttp_trailers(const veil_bhttp_msg *m) { return view(&m->trailer); }

const uint8_t *veil_bhttp_content(const veil_bhttp_msg *m, size_t *len)
{
    *len = m->content.len;
    return m->content.len ? m->content.data : NULL;
}

static uint8_t lower(uint8_t b) { return is_upper(b) ? (uint8_t)(b - 'A' + 'a') : b; }

const veil_bhttp_field *veil_bhttp_header_find(const veil_bhttp_msg *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->header.n; i++) {
        const veil_bhttp_field *f = &m->header.v[i];
        size_t j = 0;
        while (f->name_len == n && j < n && f->name[j] == lower((uint8_t)name[j]))
            j++;
        if (f->name_len == n && j == n)
            return f;
    }
    return NULL;
}

static bool fields_equal(veil_bhttp_fields a, veil_bhttp_fields b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (!veil_public_equal(a.v[i].name, a.v[i].name_len, b.v[i].name, b.v[i].name_len) ||
            !veil_public_equal(a.v[i].value, a.v[i].value_len, b.v[i].value, b.v[i].value_len))
            return false;
    return true;
}

bool veil_bhttp_msg_equal(const veil_bhttp_msg *a, const veil_bhttp_msg *b)
{
    if (a->is_request != b->is_request || a->status != b->status || a->ninfo != b->ninfo)
        return false;
    for (int i = 0; i < CTL_COUNT; i++)
        if (!veil_public_equal(ctl(a, i), a->ctl_len[i], ctl(b, i), b->ctl_len[i]))
            return false;
    for (size_t i = 0; i < a->ninfo; i++)
        if (a->info[i].status != b->info[i].status ||
            !fields_equal(view(&a->info[i].fields), view(&b->info[i].fields)))
            return false;
    return fields_equal(view(&a->header), view(&b->header)) &&
           fields_equal(view(&a->trailer), view(&b->trailer)) &&
           veil_public_equal(a->content.data, a->content.len, b->content.data, b->content.len);
}

/* ---- decoder ------------------------------------------------------------- */

typedef struct decoder {
    veil_cursor c;
    veil_bhttp_limits lim;
    bool indeterminate;
    size_t nfields, field_bytes; /* running totals against the limits */
    veil_bhttp_msg *m;
} decoder;

static veil_result proto(const char *msg) { return VEIL_ERR(VEIL_E_PROTOCOL, msg); }

/* A varint; any failure (the input ends) is reported as `msg`. */
static veil_result rd_varint(veil_cursor *c, uint64_t *v, const char *msg)
{
    veil_result r = veil_cursor_varint(c, v);
    return veil_ok(r) ? r : proto(msg);
}

/* `len` bytes that must lie within `c`, else `msg`. */
static veil_result rd_view(veil_cursor *c, uint64_t len, const uint8_t **p, const char *msg)
{
    VEIL_ENSURE(len <= veil_cursor_remaining(c), VEIL_E_PROTOCOL, msg);
    return veil_cursor_view(c, (size_t)len, p);
}

/* RFC 9292 §3.4: method, scheme, authority, path, each length-prefixed. */
static veil_result dec_request_control(decoder *d)
{
    for (int i = 0; i < CTL_COUNT; i++) {
        uint64_t n;
        const uint8_t *p;
        VEIL_GUARD(rd_varint(&d->c, &n, "bhttp: request control data is truncated"));
        VEIL_GUARD(rd_view(&d->c, n, &p, "bhttp: request control data length exceeds input"));
        VEIL_GUARD(set_control(d->m, i, p, (size_t)n, VEIL_E_PROTOCOL));
    }
    return VEIL_OK;
}

/* RFC 9292 §3.6 Field Line, after its Name Length (already read, non-zero). */
static veil_result dec_field_line(decoder *d, veil_cursor *c, field_list *fl, section sec,
                                  uint64_t nlen)
{
    const uint8_t *name, *value;
    uint64_t vlen;
    VEIL_GUARD(rd_view(c, nlen, &name, "bhttp: field name runs past the end of its section"));
    VEIL_GUARD(rd_varint(c, &vlen, "bhttp: field line ends before its value length"));
    VEIL_GUARD(rd_view(c, vlen, &value, "bhttp: field value runs past the end of its section"));
    VEIL_ENSURE(d->nfields < d->lim.max_fields, VEIL_E_PROTOCOL, "bhttp: too many field lines");
    VEIL_ENSURE(nlen + vlen <= d->lim.max_field_bytes - d->field_bytes, VEIL_E_PROTOCOL,
                "bhttp: field lines exceed the size limit");
    d->nfields++;
    d->field_bytes += (size_t)(nlen + vlen);
    return add_field(fl, sec, name, (size_t)nlen, value, (size_t)vlen, VEIL_E_PROTOCOL);
}

/* Known-length: a length, then lines filling exactly that many bytes.
 * Indeterminate: lines until a zero Name Length (RFC 9292 §3.1, §3.2). */
static veil_result dec_fields(decoder *d, field_list *fl, section sec)
{
    uint64_t n;
    if (d->indeterminate) {
        for (;;) {
            VEIL_GUARD(rd_varint(&d->c, &n, "bhttp: field section ends without its terminator"));
            if (n == 0)
                return VEIL_OK;
            VEIL_GUARD(dec_field_line(d, &d->c, fl, sec, n));
        }
    }
    veil_cursor sub;
    VEIL_GUARD(rd_varint(&d->c, &n, "bhttp: input ends where a field section was expected"));
    VEIL_ENSURE(n <= veil_cursor_remaining(&d->c), VEIL_E_PROTOCOL,
                "bhttp: field section length exceeds input");
    VEIL_GUARD(veil_cursor_sub(&d->c, (size_t)n, &sub));
    while (!veil_cursor_at_end(&sub)) {
        VEIL_GUARD(rd_varint(&sub, &n, "bhttp: field line runs past the end of its section"));
        VEIL_ENSURE(n > 0, VEIL_E_PROTOCOL, "bhttp: field name is empty");
        VEIL_GUARD(dec_field_line(d, &sub, fl, sec, n));
    }
    return veil_cursor_expect_end(&sub, "bhttp: field section has trailing bytes");
}

/* RFC 9292 §3.5: informational responses (100..199, each with a field
 * section) until a final status (200..599). */
static veil_result dec_response_control(decoder *d)
{
    veil_bhttp_msg *m = d->m;
    for (;;) {
        uint64_t st;
        VEIL_GUARD(rd_varint(&d->c, &st, "bhttp: response ends before its final status"));
        if (st >= 200 && st <= 599) {
            m->status = (unsigned)st;
            return VEIL_OK;
        }
        VEIL_ENSURE(st >= 100 && st <= 199, VEIL_E_PROTOCOL,
                    "bhttp: response status code outside 100..599");
        VEIL_ENSURE(m->ninfo < d->lim.max_informational, VEIL_E_PROTOCOL,
                    "bhttp: too many informational responses");
        VEIL_GUARD(push_informational(m, (unsigned)st));
        VEIL_GUARD(dec_fields(d, &m->info[m->ninfo - 1].fields, SEC_INFORMATIONAL));
    }
}

static veil_result dec_chunk(decoder *d, uint64_t n, const char *past_end)
{
    const uint8_t *p;
    VEIL_GUARD(rd_view(&d->c, n, &p, past_end));
    VEIL_ENSURE(n <= d->lim.max_content - d->m->content.len, VEIL_E_PROTOCOL,
                "bhttp: content exceeds the size limit");
    return veil_buf_append(&d->m->content, p, (size_t)n);
}

/* Known-length: one length-prefixed block. Indeterminate: non-empty chunks
 * until a zero length. */
static veil_result dec_content(decoder *d)
{
    uint64_t n;
    if (!d->indeterminate) {
        VEIL_GUARD(rd_varint(&d->c, &n, "bhttp: content length is truncated"));
        return dec_chunk(d, n, "bhttp: content length exceeds input");
    }
    for (;;) {
        VEIL_GUARD(rd_varint(&d->c, &n, "bhttp: content ends without its zero-length terminator"));
        if (n == 0)
            return VEIL_OK;
        VEIL_GUARD(dec_chunk(d, n, "bhttp: content chunk length exceeds input"));
    }
}

/* Header, content, trailer: each may be cut off, with everything after it,
 * exactly where the input ends (RFC 9292 §3.8); then zero padding. */
static veil_result dec_sections_and_padding(decoder *d)
{
    veil_bhttp_msg *m = d->m;
    m->sections = 0;
    if (veil_cursor_at_end(&d->c))
        return VEIL_OK;
    VEIL_GUARD(dec_fields(d, &m->header, SEC_HEADER));
    m->sections = 1;
    if (veil_cursor_at_end(&d->c))
        return VEIL_OK;
    VEIL_GUARD(dec_content(d));
    m->sections = 2;
    if (veil_cursor_at_end(&d->c))
        return VEIL_OK;
    VEIL_GUARD(dec_fields(d, &m->trailer, SEC_TRAILER));
    m->sections = 3;
    while (!veil_cursor_at_end(&d->c)) {
        uint8_t b;
        VEIL_GUARD(veil_cursor_u8(&d->c, &b));
        VEIL_ENSURE(b == 0, VEIL_E_PROTOCOL, "bhttp: non-zero padding byte");
        m->padding++;
    }
    return VEIL_OK;
}

static size_t or_default(size_t v, size_t def) { return v ? v : def; }

veil_result veil_bhttp_decode(const uint8_t *p, size_t n, const veil_bhttp_limits *limits,
                              veil_bhttp_msg **out)
{
    veil_result res = VEIL_OK;
    decoder d = {0};
    veil_bhttp_limits none = {0};
    const veil_bhttp_limits *l = limits ? limits : &none;
    uint64_t fi;
    VEIL_ENSURE(out != NULL && (p != NULL || n == 0), VEIL_E_USAGE,
                "bhttp: decode needs an input and an output");
    *out = NULL;
    d.c = veil_cursor_init(p, n);
    d.lim.max_fields = or_default(l->max_fields, VEIL_BHTTP_DEFAULT_MAX_FIELDS);
    d.lim.max_field_bytes = or_default(l->max_field_bytes, VEIL_BHTTP_DEFAULT_MAX_FIELD_BYTES);
    d.lim.max_content = or_default(l->max_content, VEIL_BHTTP_DEFAULT_MAX_CONTENT);
    d.lim.max_informational =
        or_default(l->max_informational, VEIL_BHTTP_DEFAULT_MAX_INFORMATIONAL);

    /* RFC 9292 §3.3: framing indicator */
    VEIL_TRY(res, rd_varint(&d.c, &fi, "bhttp: input ends before the framing indicator"));
    VEIL_ENSURE_GOTO(res, fi <= 3, VEIL_E_PROTOCOL, "bhttp: unknown framing indicator (not 0..3)");
    d.m = msg_alloc((fi & 1) == 0);
    VEIL_ENSURE_GOTO(res, d.m != NULL, VEIL_E_NOMEM, "bhttp: out of memory");
    d.indeterminate = fi >= 2;
    d.m->framing = d.indeterminate ? VEIL_BHTTP_INDETERMINATE : VEIL_BHTTP_KNOWN_LENGTH;

    if (d.m->is_request)
        VEIL_TRY(res, dec_request_control(&d));
    else
        VEIL_TRY(res, dec_response_control(&d));
    VEIL_TRY(res, dec_sections_and_padding(&d));
    *out = d.m;
    d.m = NULL;
out:
    veil_bhttp_msg_free(d.m);
    return res;
}
