/* Encrypted RAG routes of the inner app (src/gateway/rag_internal.h). The
 * collections' indexes were decrypted whole at start (veil_rag_store_open);
 * a request touches no storage, and only the passages it returns are
 * decrypted, each for the length of the request. */
#include <stdio.h>
#include <string.h>

#include "gateway/rag_internal.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/rag.h"

#define CT_JSON "application/json"

static void refuse(app_rag_refusal *ref, unsigned status, const char *code, const char *param,
                   const char *msg)
{
    ref->status = status;
    ref->code = code;
    ref->param = param;
    ref->msg = msg;
}

static const veil_app_rag *find_collection(const veil_app_rag *cols, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    return NULL;
}

/* A JSON string of passage text; bytes that are not UTF-8 become '?'. */
static json_t *text_json(const veil_buf *t)
{
    json_t *s = json_stringn((const char *)t->data, t->len);
    if (s || t->len == 0)
        return s ? s : json_string("");
    veil_buf c;
    veil_buf_init(&c, 0);
    if (veil_ok(veil_buf_append(&c, t->data, t->len)))
        for (size_t i = 0; i < c.len; i++)
            if (c.data[i] >= 0x80)
                c.data[i] = '?';
    s = json_stringn((const char *)c.data, c.len);
    veil_buf_free(&c);
    return s;
}

/* The top passages of `query`, decrypted: [{"document","passage","offset",
 * "score","text"}]. A record that fails authentication is refused (500),
 * naming it, and logged (record numbers only, never text). */
static json_t *retrieve(const veil_app_rag *col, const char *query, size_t top_k,
                        app_rag_refusal *ref)
{
    const veil_rag_index *ix = veil_rag_store_index(col->store);
    veil_rag_hit hits[VEIL_RAG_TOP_K_MAX];
    size_t nh = 0;
    veil_result r = veil_rag_index_search(ix, query, strlen(query), top_k, hits, &nh);
    if (!veil_ok(r)) {
        refuse(ref, 400, "invalid_request", "query", r.msg);
        return NULL;
    }
    json_t *arr = json_array();
    veil_buf pt;
    veil_buf_init(&pt, 0);
    for (size_t i = 0; arr && i < nh; i++) {
        veil_rag_passage_info pi;
        char bad[VEIL_RAG_RECORD_NAME] = "";
        r = veil_rag_index_passage(ix, hits[i].passage, &pi);
        if (veil_ok(r))
            r = veil_rag_store_passage(col->store, hits[i].passage, &pt, bad);
        if (!veil_ok(r)) {
            fprintf(stderr, "veil gateway: rag collection %s: %s failed authentication\n",
                    col->name, bad);
            snprintf(ref->buf, sizeof ref->buf,
                     "A stored record of the collection failed authentication: %s.", bad);
            refuse(ref, 500, "rag_store_corrupt", NULL, ref->buf);
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_t *h =
            json_pack("{s:s,s:i,s:s,s:I,s:I,s:f,s:o}", "object", "rag.passage", "rank", (int)i + 1,
                      "document", pi.doc_name, "passage", (json_int_t)pi.seq, "offset",
                      (json_int_t)pi.off, "score", hits[i].score, "text", text_json(&pt));
        if (!h || json_array_append_new(arr, h) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    veil_buf_free(&pt);
    return arr;
}

/* ---- replies (OpenAI error shape, as in app.c) ---- */

static veil_result reply_json(const veil_app_writer *w, unsigned status, json_t *j)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
    veil_result r = VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
    if (n > 0 && veil_ok(veil_buf_zeros(&b, n)) &&
        json_dumpb(j, (char *)b.data, n, JSON_COMPACT) == n) {
        veil_app_header h = {"content-type", CT_JSON};
        r = w->head(w->arg, status, &h, 1);
        if (veil_ok(r))
            r = w->body(w->arg, b.data, b.len);
        if (veil_ok(r))
            r = w->end(w->arg);
    }
    json_decref(j);
    veil_buf_free(&b);
    return r;
}

static veil_result reply_refusal(const veil_app_writer *w, const app_rag_refusal *ref)
{
    const char *type = ref->status >= 500 ? "server_error" : "invalid_request_error";
    return reply_json(w, ref->status,
                      json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", ref->msg, "type",
                                type, "param", ref->param, "code", ref->code));
}

/* ---- POST /v1/rag/search ---- */

static json_t *search_request(const veil_bhttp_msg *rq, size_t max_body, app_rag_refusal *ref)
{
    size_t len = 0;
    const uint8_t *body = veil_bhttp_content(rq, &len);
    if (len > max_body) {
        refuse(ref, 413, "request_too_large", NULL, "The request body is too large.");
        return NULL;
    }
    json_t *j = len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(j))
        refuse(ref, 400, "invalid_json", NULL, "The request body is not a JSON object.");
    return j;
}

veil_result app_rag_search(const veil_app_rag *cols, size_t n, const veil_bhttp_msg *rq,
                           size_t max_body, const veil_app_writer *w)
{
    app_rag_refusal ref = {0};
    json_t *j = search_request(rq, max_body, &ref), *res = NULL;
    const veil_app_rag *col = NULL;
    if (!ref.status) {
        const json_t *c = json_object_get(j, "collection"), *q = json_object_get(j, "query");
        const json_t *k = json_object_get(j, "top_k");
        json_int_t top_k = k ? json_integer_value(k) : 5;
        if (!json_is_string(c))
            refuse(&ref, 400, "invalid_request", "collection", "'collection' must be a string.");
        else if (!json_is_string(q) || json_string_length(q) > VEIL_RAG_QUERY_MAX)
            refuse(&ref, 400, "invalid_request", "query",
                   "'query' must be a string of at most 4096 bytes.");
        else if (k && (!json_is_integer(k) || top_k < 1 || top_k > VEIL_RAG_TOP_K_MAX))
            refuse(&ref, 400, "invalid_request", "top_k", "'top_k' must be an integer 1..100.");
        else if (!(col = find_collection(cols, n, json_string_value(c))))
            refuse(&ref, 404, "collection_not_found", "collection",
                   "The collection does not exist.");
        else
            res = retrieve(col, json_string_value(q), (size_t)top_k, &ref);
    }
    veil_result r;
    if (ref.status)
        r = reply_refusal(w, &ref);
    else
        r = reply_json(
            w, 200,
            res ? json_pack("{s:s,s:s,s:o}", "object", "list", "collection", col->name, "data", res)
                : NULL);
    json_decref(j);
    return r;
}

/* ---- chat ---- */

/* The text of the last user message (string content, or its text parts). */
static veil_result last_user_text(const json_t *msgs, veil_buf *out, size_t *at)
{
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i), *c = json_object_get(m, "content");
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "user") != 0)
            continue;
        *at = i;
        if (json_is_string(c))
            return veil_buf_append(out, json_string_value(c), json_string_length(c));
        size_t k;
        const json_t *part;
        json_array_foreach (c, k, part) {
            const json_t *t = json_object_get(part, "text");
            if (json_is_string(t)) {
                VEIL_GUARD(veil_buf_append(out, json_string_value(t), json_string_length(t)));
                VEIL_GUARD(veil_buf_append(out, " ", 1));
            }
        }
        return VEIL_OK;
    }
    return VEIL_ERR(VEIL_E_PROTOCOL, "no user message");
}

static veil_result context_message(const char *name, const json_t *hits, json_t **out)
{
    veil_buf t;
    veil_buf_init(&t, 0);
    char line[VEIL_RAG_NAME_MAX + 160];
    snprintf(line, sizeof line,
             "Passages retrieved from the collection \"%s\" for the user's question. Use them "
             "to answer, and cite them by number.\n",
             name);
    veil_result r = veil_buf_append(&t, line, strlen(line));
    size_t i;
    const json_t *h;
    json_array_foreach (hits, i, h) {
        snprintf(line, sizeof line, "\n[%zu] %s, passage %lld:\n", i + 1,
                 json_string_value(json_object_get(h, "document")),
                 (long long)json_integer_value(json_object_get(h, "passage")));
        const json_t *txt = json_object_get(h, "text");
        if (veil_ok(r))
            r = veil_buf_append(&t, line, strlen(line));
        if (veil_ok(r))
            r = veil_buf_append(&t, json_string_value(txt), json_string_length(txt));
        if (veil_ok(r))
            r = veil_buf_append(&t, "\n", 1);
    }
    *out = veil_ok(r)
               ? json_pack("{s:s,s:s%}", "role", "system", "content", (const char *)t.data, t.len)
               : NULL;
    veil_buf_free(&t);
    VEIL_GUARD(r);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "app: out of memory");
    return VEIL_OK;
}

static const veil_app_rag *chat_collection(const veil_app_rag *cols, size_t n, bool external,
                                           const json_t *spec, size_t *top_k, app_rag_refusal *ref)
{
    const json_t *c = json_object_get(spec, "collection"), *k = json_object_get(spec, "top_k");
    json_int_t kv = k ? json_integer_value(k) : APP_RAG_DEFAULT_TOP_K;
    const veil_app_rag *col = NULL;
    if (!json_is_object(spec) || !json_is_string(c))
        refuse(ref, 400, "invalid_request", "veil_rag",
               "'veil_rag' must be an object with a 'collection' string.");
    else if (k && (!json_is_integer(k) || kv < 1 || kv > APP_RAG_MAX_CHAT_TOP_K))
        refuse(ref, 400, "invalid_request", "veil_rag.top_k",
               "'veil_rag.top_k' must be an integer 1..20.");
    else if (external)
        refuse(ref, 400, "rag_not_allowed", "veil_rag",
               "Retrieved passages never leave the TEE: 'veil_rag' is refused for models "
               "outside it.");
    else if (!(col = find_collection(cols, n, json_string_value(c))))
        refuse(ref, 404, "collection_not_found", "veil_rag.collection",
               "The collection does not exist.");
    *top_k = (size_t)kv;
    return ref->status ? NULL : col;
}

veil_result app_rag_augment_chat(const veil_app_rag *cols, size_t n, bool external, json_t *j,
                                 bool *augmented, app_rag_refusal *ref)
{
    *augmented = false;
    json_t *spec = json_object_get(j, "veil_rag");
    if (!spec)
        return VEIL_OK;
    size_t top_k = 0, at = 0;
    const veil_app_rag *col = chat_collection(cols, n, external, spec, &top_k, ref);
    if (!col)
        return VEIL_OK;
    json_t *msgs = json_object_get(j, "messages");
    veil_buf q;
    veil_buf_init(&q, 0);
    veil_result r = last_user_text(msgs, &q, &at);
    if (!veil_ok(r)) {
        veil_buf_free(&q);
        if (r.cls == VEIL_E_NOMEM)
            return r;
        refuse(ref, 400, "invalid_request", "messages",
               "'veil_rag' needs a user message to search with.");
        return VEIL_OK;
    }
    if (q.len > VEIL_RAG_QUERY_MAX) /* a long message: its start is the query */
        q.len = VEIL_RAG_QUERY_MAX;
    json_t *hits = NULL, *msg = NULL;
    if (veil_ok(r = veil_buf_u8(&q, 0)))
        hits = retrieve(col, (const char *)q.data, top_k, ref);
    veil_buf_free(&q);
    if (!hits)
        return ref->status ? VEIL_OK : VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
    if (json_array_size(hits) > 0) {
        r = context_message(col->name, hits, &msg);
        if (veil_ok(r) && json_array_insert_new(msgs, at, msg) != 0)
            r = VEIL_ERR(VEIL_E_NOMEM, "app: out of memory");
    }
    json_decref(hits);
    VEIL_GUARD(r);
    json_object_del(j, "veil_rag");
    *augmented = true;
    return VEIL_OK;
}
