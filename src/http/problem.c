/* RFC 9457 problem details: {"type", "title", "status", "detail"} as
 * application/problem+json, built with jansson so every string is escaped. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "common/json_util.h"
#include "http/http_internal.h"
#include "veil/http.h"
#include "veil/mem.h"

#define SLUG_MAX 64

/* Problem type slugs are ours and short: [a-z0-9-]{1,64}. */
static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SLUG_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

veil_result veil_http_problem_encode(unsigned status, const char *slug, const char *title,
                                     const char *detail, veil_buf *out)
{
    veil_result res = VEIL_OK;
    json_t *doc = NULL;
    char *text = NULL;
    char type[sizeof VEIL_HTTP_PROBLEM_BASE + SLUG_MAX];

    VEIL_ENSURE(out, VEIL_E_USAGE, "problem: no output buffer");
    VEIL_ENSURE(status >= 200 && status <= 599, VEIL_E_USAGE, "problem status outside 200..599");
    VEIL_ENSURE(!slug || slug_ok(slug), VEIL_E_USAGE, "problem type slug must be [a-z0-9-]+");
    if (slug)
        snprintf(type, sizeof type, "%s%s", VEIL_HTTP_PROBLEM_BASE, slug);
    else
        snprintf(type, sizeof type, "about:blank");
    if (!title)
        title = MHD_get_reason_phrase_for(status);
    doc = json_pack("{s:s,s:s,s:i}", "type", type, "title", title, "status", (int)status);
    VEIL_ENSURE_GOTO(res, doc, VEIL_E_USAGE, "problem title is not valid UTF-8");
    if (detail) {
        json_t *d = json_string(detail);
        VEIL_ENSURE_GOTO(res, d, VEIL_E_USAGE, "problem detail is not valid UTF-8");
        VEIL_ENSURE_GOTO(res, json_object_set_new(doc, "detail", d) == 0, VEIL_E_NOMEM,
                         "out of memory");
    }
    text = veil_json_dump(doc);
    VEIL_ENSURE_GOTO(res, text, VEIL_E_NOMEM, "out of memory");
    VEIL_TRY(res, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(text);
    json_decref(doc);
    return res;
}

void veil_http_problem(veil_http_response *resp, unsigned status, const char *slug,
                       const char *title, const char *detail)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    veil_result r = veil_http_problem_encode(status, slug, title, detail, &b);
    if (veil_ok(r))
        veil_http_resp_take(resp, status, VEIL_HTTP_MT_PROBLEM, &b);
    else
        veil_http_resp_fail(resp, r);
    veil_buf_free(&b);
}
