/* Chat requests to external upstreams: sanitize on the way out, restore on
 * the way back (gateway/sanitize_internal.h). */
#include <string.h>

#include "gateway/sanitize_internal.h"
#include "veil/http.h"
#include "veil/mem.h"

#define MAX_DEPTH 16

veil_result app_sanitize_refuse(const veil_app_writer *w, bool audio)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    veil_result r = veil_http_problem_encode(
        403, "sanitize-blocked",
        audio ? "Audio cannot be sanitized" : "Blocked by the sanitize policy",
        audio ? "This model is an external provider and a sanitize policy applies: audio "
                "cannot be checked, so it is not sent."
              : "The request contains data that the gateway's policy does not let leave the "
                "TEE for this model.",
        &b);
    veil_app_header h = {"content-type", VEIL_HTTP_MT_PROBLEM};
    if (veil_ok(r))
        r = w->head(w->arg, 403, &h, 1);
    if (veil_ok(r))
        r = w->body(w->arg, b.data, b.len);
    if (veil_ok(r))
        r = w->end(w->arg);
    veil_buf_free(&b);
    return r;
}

/* ---- the request ---- */

static bool skip_key(const char *k)
{
    return !strcmp(k, "role") || !strcmp(k, "type") || !strcmp(k, "id") ||
           !strcmp(k, "tool_call_id");
}

static veil_result sanitize_string(veil_sanitize_session *s, json_t *str, bool *blocked)
{
    veil_buf out;
    veil_buf_init(&out, 0);
    veil_result r =
        veil_sanitize_text(s, json_string_value(str), json_string_length(str), &out, NULL, NULL);
    if (veil_sanitize_is_blocked(r)) {
        *blocked = true;
        r = VEIL_OK;
    } else if (veil_ok(r) &&
               json_string_setn(str, out.len ? (const char *)out.data : "", out.len) != 0) {
        r = VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
    }
    veil_buf_free(&out);
    return r;
}

static veil_result walk(veil_sanitize_session *s, json_t *v, unsigned depth, bool *blocked)
{
    VEIL_ENSURE(depth < MAX_DEPTH, VEIL_E_PROTOCOL, "app: a message is nested too deeply");
    if (json_is_string(v))
        return sanitize_string(s, v, blocked);
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach (v, i, e)
            VEIL_GUARD(walk(s, e, depth + 1, blocked));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach (v, k, e)
            if (!skip_key(k))
                VEIL_GUARD(walk(s, e, depth + 1, blocked));
    }
    return VEIL_OK;
}

static veil_result w_head(void *arg, unsigned status, const veil_app_header *h, size_t n);
static veil_result w_body(void *arg, const uint8_t *p, size_t n);
static veil_result w_end(void *arg);

veil_result app_sanitize_chat(const veil_sanitize_policy *p, json_t *j, const veil_app_writer *w,
                              app_sanitizer *s, bool *blocked)
{
    memset(s, 0, sizeof *s);
    *blocked = false;
    veil_buf_init(&s->body, 0);
    VEIL_GUARD(veil_sanitize_session_new(p, &s->session));
    VEIL_GUARD(walk(s->session, json_object_get(j, "messages"), 0, blocked));
    json_t *user = json_object_get(j, "user");
    if (json_is_string(user))
        VEIL_GUARD(sanitize_string(s->session, user, blocked));
    s->inner = w;
    s->w = (veil_app_writer){w_head, w_body, w_end, s};
    return VEIL_OK;
}

void app_sanitizer_free(app_sanitizer *s)
{
    for (size_t i = 0; i < APP_SAN_MAX_CHOICES; i++)
        veil_sanitize_restorer_free(s->choice[i]);
    veil_sanitize_session_free(s->session);
    veil_buf_free(&s->body);
    memset(s, 0, sizeof *s);
}

/* ---- the answer ---- */

/* Every string in v with its placeholders restored. */
static veil_result restore_all(const veil_sanitize_session *s, json_t *v, unsigned depth)
{
    if (depth >= MAX_DEPTH)
        return VEIL_OK;
    if (json_is_string(v)) {
        veil_buf out;
        veil_buf_init(&out, 0);
        veil_result r = veil_sanitize_restore(s, json_string_value(v), json_string_length(v), &out);
        if (veil_ok(r) && json_string_setn(v, out.len ? (const char *)out.data : "", out.len))
            r = VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
        veil_buf_free(&out);
        return r;
    }
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v))
        json_array_foreach (v, i, e)
            VEIL_GUARD(restore_all(s, e, depth + 1));
    if (json_is_object(v))
        json_object_foreach (v, k, e)
            VEIL_GUARD(restore_all(s, e, depth + 1));
    return VEIL_OK;
}

static veil_result send_json(const veil_app_writer *w, const char *prefix, json_t *j,
                             const char *suffix)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    veil_result r = n ? veil_buf_append(&b, prefix, strlen(prefix))
                      : VEIL_ERR(VEIL_E_INTERNAL, "app: cannot encode the answer");
    if (veil_ok(r))
        r = veil_buf_zeros(&b, n);
    if (veil_ok(r) && json_dumpb(j, (char *)b.data + b.len - n, n, JSON_COMPACT) != n)
        r = VEIL_ERR(VEIL_E_INTERNAL, "app: cannot encode the answer");
    if (veil_ok(r))
        r = veil_buf_append(&b, suffix, strlen(suffix));
    if (veil_ok(r))
        r = w->body(w->arg, b.data, b.len);
    veil_buf_free(&b);
    return r;
}

static veil_result w_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    app_sanitizer *s = arg;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, "content-type"))
            s->sse = veil_http_content_type_is(h[i].value, "text/event-stream");
    return s->inner->head(s->inner->arg, status, h, n);
}

/* The restorer of choice k, made on first use. */
static veil_result restorer(app_sanitizer *s, json_int_t k, veil_sanitize_restorer **out)
{
    VEIL_ENSURE(k >= 0 && k < APP_SAN_MAX_CHOICES, VEIL_E_PROTOCOL,
                "app: the upstream streams too many choices");
    if (!s->choice[k])
        VEIL_GUARD(veil_sanitize_restorer_new(s->session, &s->choice[k]));
    *out = s->choice[k];
    return VEIL_OK;
}

/* One streamed choice: its delta's content restored, the held-back tail
 * flushed when the choice finishes. */
static veil_result restore_choice(app_sanitizer *s, json_t *c)
{
    veil_sanitize_restorer *r = NULL;
    VEIL_GUARD(restorer(s, json_integer_value(json_object_get(c, "index")), &r));
    json_t *delta = json_object_get(c, "delta"), *content = json_object_get(delta, "content");
    json_t *fin = json_object_get(c, "finish_reason");
    bool finished = fin && !json_is_null(fin);
    if (!json_is_string(content) && !(finished && json_is_object(delta)))
        return VEIL_OK;
    veil_buf out;
    veil_buf_init(&out, 0);
    veil_result res = VEIL_OK;
    if (json_is_string(content))
        res = veil_sanitize_restorer_feed(r, json_string_value(content),
                                          json_string_length(content), &out);
    if (veil_ok(res) && finished)
        res = veil_sanitize_restorer_finish(r, &out);
    if (veil_ok(res) && (json_is_string(content) || out.len) &&
        json_object_set_new(delta, "content",
                            json_stringn(out.len ? (const char *)out.data : "", out.len)) != 0)
        res = VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
    veil_buf_free(&out);
    return res;
}

/* Text still held back when the stream ends: one more event per choice. */
static veil_result flush_choices(app_sanitizer *s)
{
    for (size_t k = 0; k < APP_SAN_MAX_CHOICES; k++) {
        if (!s->choice[k])
            continue;
        veil_buf out;
        veil_buf_init(&out, 0);
        veil_result r = veil_sanitize_restorer_finish(s->choice[k], &out);
        if (veil_ok(r) && out.len) {
            json_t *ev = json_pack("{s:s,s:[{s:I,s:{s:s%}}]}", "object", "chat.completion.chunk",
                                   "choices", "index", (json_int_t)k, "delta", "content",
                                   (const char *)out.data, out.len);
            r = ev ? send_json(s->inner, "data: ", ev, "\n\n")
                   : VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
            json_decref(ev);
        }
        veil_buf_free(&out);
        VEIL_GUARD(r);
    }
    return VEIL_OK;
}

static bool line_is(const char *p, size_t n, const char *want)
{
    return veil_public_equal(p, n, want, strlen(want));
}

/* One server-sent event (the relay delivers them whole): its data line
 * restored, other lines as they are. */
static veil_result restore_event(app_sanitizer *s, const char *p, size_t n)
{
    const char *data = NULL;
    size_t dlen = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - p) : n, le = e;
        if (le > i && p[le - 1] == '\r')
            le--;
        if (le - i >= 5 && strncmp(p + i, "data:", 5) == 0) {
            VEIL_ENSURE(!data, VEIL_E_PROTOCOL, "app: an event with two data lines");
            data = p + i + 5 + (le - i > 5 && p[i + 5] == ' ');
            dlen = (size_t)(p + le - data);
        }
        i = e + 1;
    }
    if (!data) /* comments, keep-alives */
        return s->inner->body(s->inner->arg, (const uint8_t *)p, n);
    if (line_is(data, dlen, "[DONE]")) {
        VEIL_GUARD(flush_choices(s));
        return s->inner->body(s->inner->arg, (const uint8_t *)"data: [DONE]\n\n", 14);
    }
    json_t *j = json_loadb(data, dlen, 0, NULL), *choices = json_object_get(j, "choices");
    veil_result r = VEIL_OK;
    size_t i;
    json_t *c;
    if (!json_is_object(j)) { /* not a chunk: restore it as text */
        veil_buf out;
        veil_buf_init(&out, 0);
        r = veil_sanitize_restore(s->session, p, n, &out);
        if (veil_ok(r))
            r = s->inner->body(s->inner->arg, out.data, out.len);
        veil_buf_free(&out);
        json_decref(j);
        return r;
    }
    json_array_foreach (choices, i, c)
        if (veil_ok(r))
            r = restore_choice(s, c);
    if (veil_ok(r))
        r = send_json(s->inner, "data: ", j, "\n\n");
    json_decref(j);
    return r;
}

static veil_result w_body(void *arg, const uint8_t *p, size_t n)
{
    app_sanitizer *s = arg;
    if (s->sse)
        return restore_event(s, (const char *)p, n);
    return veil_buf_append(&s->body, p, n);
}

static veil_result w_end(void *arg)
{
    app_sanitizer *s = arg;
    veil_result r = VEIL_OK;
    if (s->sse) {
        r = flush_choices(s);
    } else if (s->body.len) {
        json_t *j = json_loadb((const char *)s->body.data, s->body.len, 0, NULL);
        if (j) {
            r = restore_all(s->session, j, 0);
            if (veil_ok(r))
                r = send_json(s->inner, "", j, "");
        } else {
            veil_buf out;
            veil_buf_init(&out, 0);
            r = veil_sanitize_restore(s->session, (const char *)s->body.data, s->body.len, &out);
            if (veil_ok(r))
                r = s->inner->body(s->inner->arg, out.data, out.len);
            veil_buf_free(&out);
        }
        json_decref(j);
    }
    return veil_ok(r) ? s->inner->end(s->inner->arg) : r;
}
