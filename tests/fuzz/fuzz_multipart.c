/* libFuzzer target for the multipart/form-data parser (RFC 7578).
 *
 * Input: a Content-Type value, a LF, then the body. Any input either fails
 * with a classified "multipart: " error and no form, or yields parts whose
 * contents lie inside the body and which, re-encoded canonically with the
 * same boundary, parse again to the same parts. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/cursor.h"
#include "veil/mem.h"
#include "veil/multipart.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void quoted(veil_buf *b, const char *s)
{
    check(veil_ok(veil_buf_u8(b, '"')));
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            check(veil_ok(veil_buf_u8(b, '\\')));
        check(veil_ok(veil_buf_u8(b, (uint8_t)*s)));
    }
    check(veil_ok(veil_buf_u8(b, '"')));
}

static void put(veil_buf *b, const char *s) { check(veil_ok(veil_buf_append(b, s, strlen(s)))); }

static void roundtrip(const char *ct, const veil_multipart *m)
{
    char boundary[VEIL_MULTIPART_BOUNDARY_MAX + 1];
    veil_buf b;
    veil_multipart *again = NULL;
    check(veil_ok(veil_multipart_boundary(ct, boundary)));
    veil_buf_init(&b, 0);
    for (size_t i = 0; i < veil_multipart_count(m); i++) {
        const veil_multipart_part *p = veil_multipart_get(m, i);
        put(&b, i ? "\r\n--" : "--");
        put(&b, boundary);
        put(&b, "\r\nContent-Disposition: form-data; name=");
        quoted(&b, p->name);
        if (p->filename) {
            put(&b, "; filename=");
            quoted(&b, p->filename);
        }
        if (p->content_type) {
            put(&b, "\r\nContent-Type: ");
            put(&b, p->content_type);
        }
        put(&b, "\r\n\r\n");
        check(veil_ok(veil_buf_append(&b, p->data, p->len)));
    }
    put(&b, "\r\n--");
    put(&b, boundary);
    put(&b, "--");
    veil_multipart_limits lim = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    check(veil_ok(veil_multipart_parse(ct, b.data, b.len, &lim, &again)));
    check(veil_multipart_count(again) == veil_multipart_count(m));
    for (size_t i = 0; i < veil_multipart_count(m); i++) {
        const veil_multipart_part *p = veil_multipart_get(m, i), *q = veil_multipart_get(again, i);
        check(same_str(p->name, q->name) && same_str(p->filename, q->filename) &&
              same_str(p->content_type, q->content_type));
        check(veil_public_equal(p->data, p->len, q->data, q->len));
    }
    veil_multipart_free(again);
    veil_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 512 ? size : 512);
    if (!nl)
        return 0;
    size_t ct_len = (size_t)(nl - data);
    char *ct = veil_calloc(ct_len + 1, 1);
    check(ct != NULL);
    memcpy(ct, data, ct_len);
    if (memchr(ct, 0, ct_len)) {
        veil_free(ct);
        return 0;
    }
    /* A copy of exactly the body, so ASan sees any read past its end. */
    size_t body_len = size - ct_len - 1;
    uint8_t *body = veil_calloc(body_len ? body_len : 1, 1);
    check(body != NULL);
    memcpy(body, nl + 1, body_len);

    veil_multipart *m = NULL;
    veil_result r = veil_multipart_parse(ct, body, body_len, NULL, &m);
    if (!veil_ok(r)) {
        check(m == NULL && r.msg != NULL && strncmp(r.msg, "multipart: ", 11) == 0);
        check(r.cls == VEIL_E_PROTOCOL || r.cls == VEIL_E_NOMEM || r.cls == VEIL_E_UNSUPPORTED);
    } else {
        check(veil_multipart_count(m) >= 1 &&
              veil_multipart_count(m) <= VEIL_MULTIPART_DEFAULT_MAX_PARTS);
        for (size_t i = 0; i < veil_multipart_count(m); i++) {
            const veil_multipart_part *p = veil_multipart_get(m, i);
            check(p->name != NULL);
            check(p->len == 0 ? p->data == NULL
                              : p->data >= body && p->data + p->len <= body + body_len);
            check(p->filename || p->len <= VEIL_MULTIPART_DEFAULT_MAX_FIELD_BYTES);
            const veil_multipart_part *f = veil_multipart_find(m, p->name);
            check(f != NULL && f <= p && strcmp(f->name, p->name) == 0);
        }
        roundtrip(ct, m);
    }
    veil_multipart_free(m);
    veil_free(body);
    veil_free(ct);
    return 0;
}
