/* The gateway's inner application (include/veil/app.h): routing, the model
 * table, OpenAI-style errors, and the transcription, chat and model-list
 * endpoints. Audio decoding, the embedded engine and upstream calls live in
 * audio.c, stt_pocketsphinx.c and upstream.c.
 *
 * Every handler answers through the writer and returns VEIL_OK after end(),
 * or returns the failure that stopped it from answering (a writer error, or
 * a relayed stream that broke after its head). */
#include "veil/app.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway/audio_internal.h"
#include "gateway/rag_internal.h"
#include "gateway/sanitize_internal.h"
#include "gateway/stt_internal.h"
#include "gateway/upstream_internal.h"
#include "veil/http.h"
#include "veil/mem.h"
#include "veil/multipart.h"

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"
#define DEFAULT_CONNECT_MS 5000u
#define DEFAULT_TIMEOUT_MS 300000u
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))

typedef struct model {
    char *name, *url, *upstream_model, *api_key;
    veil_app_backend backend;
    bool external; /* outside the TEE: requests are sanitized (docs/sanitize.md) */
} model;

struct veil_app {
    model *models;
    size_t n_models;
    const model *default_stt; /* NULL: transcriptions must name a model */
    size_t max_body;
    unsigned max_audio_seconds;
    veil_stt *stt;
    unsigned connect_ms, timeout_ms;
    size_t max_upstream_response;
    const veil_sanitize_policy *sanitize; /* borrowed; for external models */
    const veil_app_rag *rag;              /* borrowed; RAG collections */
    size_t n_rag;
};

/* ---- jansson: wipe what it frees ---- */

/* Parsed request JSON and built responses hold prompts and transcripts in
 * jansson's own allocations. Same heap as malloc, so switching at any time
 * is safe for blocks allocated before; malloc_usable_size gives the size to
 * wipe. */
static void *json_alloc(size_t n) { return veil_calloc(1, n); }

static void json_wipe_free(void *p)
{
    if (!p)
        return;
    veil_wipe(p, malloc_usable_size(p));
    veil_free(p);
}

static void json_wiping_once(void) { json_set_alloc_funcs(json_alloc, json_wipe_free); }

static pthread_once_t json_ctl = PTHREAD_ONCE_INIT;

/* ---- responses ---- */

static veil_result reply(const veil_app_writer *w, unsigned status, const char *content_type,
                         const veil_app_header *extra, const void *p, size_t n)
{
    veil_app_header h[2] = {{"content-type", content_type}, {NULL, NULL}};
    size_t nh = 1;
    if (extra)
        h[nh++] = *extra;
    VEIL_GUARD(w->head(w->arg, status, h, nh));
    if (n)
        VEIL_GUARD(w->body(w->arg, p, n));
    return w->end(w->arg);
}

/* Serialise j into a wiping buffer and send it; j is released. If it
 * cannot be built (j NULL: a json_pack ran out of memory), a fixed 500. */
static veil_result reply_json_h(const veil_app_writer *w, unsigned status, json_t *j,
                                const veil_app_header *extra)
{
    static const char fallback[] = "{\"error\":{\"message\":\"The server ran out of memory.\","
                                   "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
    veil_result res = VEIL_OK;
    veil_buf b;
    veil_buf_init(&b, 0);
    size_t n = j ? json_dumpb(j, NULL, 0, JSON_FLAGS) : 0;
    if (n == 0 || !veil_ok(veil_buf_zeros(&b, n)) ||
        json_dumpb(j, (char *)b.data, n, JSON_FLAGS) != n)
        res = reply(w, 500, CT_JSON, NULL, fallback, sizeof fallback - 1);
    else
        res = reply(w, status, CT_JSON, extra, b.data, b.len);
    json_decref(j);
    veil_buf_free(&b);
    return res;
}

static veil_result reply_json(const veil_app_writer *w, unsigned status, json_t *j)
{
    return reply_json_h(w, status, j, NULL);
}

/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
 * Messages are static text: they never quote the request. */
static veil_result reply_error_h(const veil_app_writer *w, unsigned status, const char *code,
                                 const char *param, const char *message,
                                 const veil_app_header *extra)
{
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    return reply_json_h(w, status,
                        json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", message, "type",
                                  type, "param", param, "code", code),
                        extra);
}

static veil_result reply_error(const veil_app_writer *w, unsigned status, const char *code,
                               const char *param, const char *message)
{
    return reply_error_h(w, status, code, param, message, NULL);
}

/* A library failure as the response it calls for: audio and form errors
 * are the client's (400/413/415), the rest the server's. */
static veil_result reply_failure(const veil_app_writer *w, veil_result r, const char *param)
{
    switch (r.cls) {
    case VEIL_E_NOMEM: return reply_error(w, 413, "request_too_large", param, r.msg);
    case VEIL_E_UNSUPPORTED: return reply_error(w, 415, "unsupported_media_type", param, r.msg);
    case VEIL_E_PROTOCOL:
    case VEIL_E_USAGE: return reply_error(w, 400, "invalid_request", param, r.msg);
    default: return reply_error(w, 500, "internal_error", NULL, r.msg);
    }
}

static veil_result reply_upstream(const veil_app_writer *w, veil_upstream_outcome o)
{
    if (o == VEIL_UPSTREAM_TIMEOUT)
        return reply_error(w, 504, "upstream_timeout", NULL,
                           "The model server did not answer in time.");
    if (o == VEIL_UPSTREAM_UNREACHABLE)
        return reply_error(w, 502, "upstream_unreachable", NULL,
                           "The model server cannot be reached.");
    return reply_error(w, 502, "upstream_error", NULL,
                       "The model server failed or sent a malformed answer.");
}

/* ---- model table ---- */

static const model *find_model(const veil_app *app, const char *name)
{
    for (size_t i = 0; name && i < app->n_models; i++)
        if (strcmp(app->models[i].name, name) == 0)
            return &app->models[i];
    return NULL;
}

/* The model a transcription asks for: the named one, else the default for
 * no name or for VEIL_APP_WHISPER_ALIAS. */
static const model *stt_model(const veil_app *app, const char *name)
{
    const model *m = find_model(app, name);
    if (!m && (!name || strcmp(name, VEIL_APP_WHISPER_ALIAS) == 0))
        m = app->default_stt;
    return m;
}

static veil_result dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return VEIL_OK;
    size_t n = strlen(s);
    *out = veil_calloc(n + 1, 1);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "app: out of memory");
    memcpy(*out, s, n);
    return VEIL_OK;
}

static void free_str(char *s)
{
    if (s)
        veil_free_wiped(s, strlen(s) + 1);
}

/* Upstreams run inside the TEE: plaintext must not leave it, so only
 * http://127.x.y.z, http://[::1] and http://localhost are accepted. */
static veil_result check_loopback(const char *url)
{
    VEIL_GUARD(veil_http_url_check(url));
    VEIL_ENSURE(strncasecmp(url, "http://", 7) == 0, VEIL_E_USAGE,
                "app: an upstream URL must be http:// on loopback (it carries plaintext)");
    const char *h = url + 7;
    size_t n = strcspn(h, ":/?#");
    if (h[0] == '[')
        n = strcspn(h, "]") + 1;
    bool ok = (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
              (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
              (n >= 9 && n <= 15 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") >= n);
    VEIL_ENSURE(ok, VEIL_E_USAGE,
                "app: an upstream URL must name a loopback host (127.0.0.0/8, [::1], "
                "localhost): the request plaintext must not leave the TEE");
    return VEIL_OK;
}

/* An external provider: https:// anywhere (or loopback, e.g. an egress proxy). */
static veil_result check_external(const char *url)
{
    VEIL_GUARD(veil_http_url_check(url));
    if (strncasecmp(url, "https://", 8) == 0)
        return VEIL_OK;
    return check_loopback(url);
}

static veil_result model_add(veil_app *app, const veil_app_model *in)
{
    VEIL_ENSURE(in->name && in->name[0], VEIL_E_USAGE, "app: a model has no name");
    VEIL_ENSURE(!find_model(app, in->name), VEIL_E_USAGE, "app: two models have the same name");
    switch (in->backend) {
    case VEIL_APP_BACKEND_POCKETSPHINX:
        VEIL_ENSURE(!in->url, VEIL_E_USAGE, "app: the embedded pocketsphinx model takes no URL");
        break;
    case VEIL_APP_BACKEND_OPENAI_EXTERNAL:
        VEIL_ENSURE(in->url, VEIL_E_USAGE, "app: an upstream model needs a URL");
        VEIL_GUARD(check_external(in->url));
        break;
    case VEIL_APP_BACKEND_OPENAI:
    case VEIL_APP_BACKEND_WHISPER_CPP:
        VEIL_ENSURE(in->url, VEIL_E_USAGE, "app: an upstream model needs a URL");
        VEIL_GUARD(check_loopback(in->url));
        break;
    default: return VEIL_ERR(VEIL_E_USAGE, "app: a model has an unknown backend");
    }
    model *m = &app->models[app->n_models];
    /* An external provider is an OpenAI-style upstream behind the sanitizer. */
    m->external = in->backend == VEIL_APP_BACKEND_OPENAI_EXTERNAL;
    m->backend = m->external ? VEIL_APP_BACKEND_OPENAI : in->backend;
    VEIL_GUARD(dup_opt(in->name, &m->name));
    app->n_models++; /* owned from here: freed with the app */
    VEIL_GUARD(dup_opt(in->url, &m->url));
    if (m->url) { /* "http://h/v1/" + "/chat" would double the slash */
        size_t n = strlen(m->url);
        while (n > 7 && m->url[n - 1] == '/')
            m->url[--n] = '\0';
    }
    VEIL_GUARD(dup_opt(in->upstream_model ? in->upstream_model : in->name, &m->upstream_model));
    return dup_opt(in->api_key, &m->api_key);
}

veil_result veil_app_new(const veil_app_config *cfg, veil_app **out)
{
    static const veil_app_model builtin = {VEIL_APP_STT_MODEL, VEIL_APP_BACKEND_POCKETSPHINX, NULL,
                                           NULL, NULL};
    veil_result res = VEIL_OK;
    veil_app *app = NULL;
    *out = NULL;
    VEIL_ENSURE(cfg, VEIL_E_USAGE, "app: no configuration");
    pthread_once(&json_ctl, json_wiping_once);
    const veil_app_model *models = cfg->n_models ? cfg->models : &builtin;
    size_t n = cfg->n_models ? cfg->n_models : 1;
    VEIL_ENSURE(models, VEIL_E_USAGE, "app: n_models is set but models is NULL");

    app = veil_calloc(1, sizeof *app);
    VEIL_ENSURE_GOTO(res, app, VEIL_E_NOMEM, "app: out of memory");
    app->models = veil_calloc(n, sizeof *app->models);
    VEIL_ENSURE_GOTO(res, app->models, VEIL_E_NOMEM, "app: out of memory");
    bool need_stt = false;
    for (size_t i = 0; i < n; i++) {
        VEIL_ENSURE_GOTO(
            res, models[i].backend != VEIL_APP_BACKEND_OPENAI_EXTERNAL || cfg->sanitize_policy,
            VEIL_E_USAGE, "app: an external model needs a sanitize policy");
        VEIL_TRY(res, model_add(app, &models[i]));
        need_stt |= models[i].backend == VEIL_APP_BACKEND_POCKETSPHINX;
    }
    app->default_stt =
        find_model(app, cfg->default_transcription_model ? cfg->default_transcription_model
                                                         : VEIL_APP_STT_MODEL);
    VEIL_ENSURE_GOTO(res, app->default_stt || !cfg->default_transcription_model, VEIL_E_USAGE,
                     "app: the default transcription model is not in the model table");
    app->sanitize = cfg->sanitize_policy;
    app->rag = cfg->rag;
    app->n_rag = cfg->rag ? cfg->n_rag : 0;
    app->max_body = cfg->max_body ? cfg->max_body : VEIL_APP_DEFAULT_MAX_BODY;
    app->max_audio_seconds =
        cfg->max_audio_seconds ? cfg->max_audio_seconds : VEIL_APP_DEFAULT_MAX_AUDIO_SECONDS;
    app->connect_ms =
        cfg->upstream_connect_timeout_ms ? cfg->upstream_connect_timeout_ms : DEFAULT_CONNECT_MS;
    app->timeout_ms = cfg->upstream_timeout_ms ? cfg->upstream_timeout_ms : DEFAULT_TIMEOUT_MS;
    app->max_upstream_response = cfg->max_upstream_response
                                     ? cfg->max_upstream_response
                                     : VEIL_APP_DEFAULT_MAX_UPSTREAM_RESPONSE;
    if (need_stt) {
        veil_stt_config sc = {
            cfg->ps_hmm ? cfg->ps_hmm : VEIL_APP_PS_HMM, cfg->ps_lm ? cfg->ps_lm : VEIL_APP_PS_LM,
            cfg->ps_dict ? cfg->ps_dict : VEIL_APP_PS_DICT, cfg->stt_decoders, cfg->stt_wait_ms};
        VEIL_TRY(res, veil_stt_new(&sc, &app->stt));
    }
    *out = app;
    app = NULL;
out:
    veil_app_free(app);
    return res;
}

void veil_app_free(veil_app *app)
{
    if (!app)
        return;
    for (size_t i = 0; i < app->n_models; i++) {
        model *m = &app->models[i];
        free_str(m->name);
        free_str(m->url);
        free_str(m->upstream_model);
        free_str(m->api_key);
    }
    veil_free(app->models);
    veil_stt_free(app->stt);
    veil_free(app);
}

static void upstream_init(const veil_app *app, const model *m, const char *url, veil_upstream *up)
{
    up->url = url;
    up->api_key = m->api_key;
    up->connect_timeout_ms = app->connect_ms;
    up->timeout_ms = app->timeout_ms;
    up->max_response = app->max_upstream_response;
}

/* m->url + suffix into a fresh string (free with free_str). */
static veil_result join_url(const model *m, const char *suffix, char **out)
{
    size_t n = strlen(m->url) + strlen(suffix) + 1;
    *out = veil_calloc(n, 1);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "app: out of memory");
    snprintf(*out, n, "%s%s", m->url, suffix);
    return VEIL_OK;
}

/* ---- request helpers ---- */

static const char *header(const veil_bhttp_msg *rq, const char *name)
{
    const veil_bhttp_field *f = veil_bhttp_header_find(rq, name);
    return f ? (const char *)f->value : NULL;
}

/* A text field of the form, NUL-terminated and trimmed, or NULL when
 * absent. Fields with NUL bytes are refused. */
static veil_result form_text(const veil_multipart *form, const char *name, char **out)
{
    *out = NULL;
    const veil_multipart_part *p = veil_multipart_find(form, name);
    if (!p)
        return VEIL_OK;
    const uint8_t *s = p->data;
    size_t n = p->len;
    while (n && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    VEIL_ENSURE(!n || !memchr(s, 0, n), VEIL_E_PROTOCOL, "A form field holds a NUL byte.");
    *out = veil_calloc(n + 1, 1);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "app: out of memory");
    if (n)
        memcpy(*out, s, n);
    return VEIL_OK;
}

/* ---- POST /v1/audio/transcriptions ---- */

typedef enum fmt { FMT_JSON, FMT_TEXT, FMT_VERBOSE } fmt;

typedef struct stt_request {
    veil_multipart *form;
    const veil_multipart_part *file;
    char *model, *language, *format;
    fmt fmt;
    const model *m;
    veil_pcm pcm;
} stt_request;

static void stt_request_free(stt_request *r)
{
    veil_multipart_free(r->form);
    free_str(r->model);
    free_str(r->language);
    free_str(r->format);
    veil_pcm_free(&r->pcm);
}

static bool is_english(const char *lang)
{
    return !lang || !lang[0] || strcasecmp(lang, "en") == 0 || strcasecmp(lang, "english") == 0 ||
           strncasecmp(lang, "en-", 3) == 0 || strncasecmp(lang, "en_", 3) == 0;
}

static json_t *verbose_json(const veil_stt_result *t, const char *text)
{
    json_t *segs = json_array(), *words = json_array();
    for (size_t i = 0; segs && i < t->n_segments; i++) {
        const veil_stt_segment *s = &t->segments[i];
        veil_buf b;
        veil_buf_init(&b, 0);
        bool ok = true;
        for (size_t k = 0; k < s->count && ok; k++) {
            const char *wd = t->words[s->first + k].text;
            ok = (k == 0 || veil_ok(veil_buf_u8(&b, ' '))) &&
                 veil_ok(veil_buf_append(&b, wd, strlen(wd)));
        }
        json_t *seg = ok ? json_pack("{s:I,s:I,s:f,s:f,s:s%}", "id", (json_int_t)i, "seek",
                                     (json_int_t)0, "start", s->start, "end", s->end, "text",
                                     b.data ? (const char *)b.data : "", b.len)
                         : NULL;
        veil_buf_free(&b);
        if (!seg || json_array_append_new(segs, seg) != 0) {
            json_decref(segs);
            segs = NULL;
        }
    }
    for (size_t i = 0; words && i < t->n_words; i++) {
        const veil_stt_word *wd = &t->words[i];
        if (json_array_append_new(words, json_pack("{s:s,s:f,s:f}", "word", wd->text, "start",
                                                   wd->start, "end", wd->end)) != 0) {
            json_decref(words);
            words = NULL;
        }
    }
    if (!segs || !words) {
        json_decref(segs);
        json_decref(words);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:f,s:s,s:o,s:o}", "task", "transcribe", "language", "english",
                     "duration", t->duration, "text", text, "segments", segs, "words", words);
}

static veil_result reply_transcript(const veil_app_writer *w, fmt f, const char *text, size_t len,
                                    const veil_stt_result *t)
{
    if (f == FMT_TEXT) {
        veil_buf b;
        veil_buf_init(&b, 0);
        veil_result res = veil_buf_append(&b, text, len);
        if (veil_ok(res))
            res = veil_buf_u8(&b, '\n');
        if (veil_ok(res))
            res = reply(w, 200, CT_TEXT, NULL, b.data, b.len);
        else
            res = reply_failure(w, res, NULL);
        veil_buf_free(&b);
        return res;
    }
    json_t *j =
        f == FMT_VERBOSE && t ? verbose_json(t, text) : json_pack("{s:s%}", "text", text, len);
    if (!j)
        return reply_error(w, 502, "upstream_error", NULL,
                           "The transcript is not valid UTF-8 or could not be encoded.");
    return reply_json(w, 200, j);
}

static veil_result transcribe_embedded(veil_app *app, stt_request *r, const veil_app_writer *w)
{
    veil_stt_result t;
    bool busy = false;
    veil_result e = veil_stt_transcribe(app->stt, r->pcm.s, r->pcm.n, &t, &busy);
    if (!veil_ok(e))
        return busy ? reply_error(w, 503, "server_busy", NULL,
                                  "Every speech decoder is busy; retry shortly.")
                    : reply_failure(w, e, NULL);
    veil_result res = reply_transcript(w, r->fmt, t.text, t.text_len, &t);
    veil_stt_result_free(&t);
    return res;
}

/* whisper.cpp's /inference gets the decoded audio as 16 kHz mono WAV, so
 * every format this gateway accepts works, within the same limits. */
static veil_result transcribe_whisper(veil_app *app, stt_request *r, const veil_app_writer *w)
{
    veil_result res = VEIL_OK, e;
    veil_upstream_form form;
    veil_buf wav, answer;
    veil_upstream up;
    veil_upstream_outcome o = VEIL_UPSTREAM_FAILED;
    json_t *j = NULL;
    long status = 0;
    veil_buf_init(&wav, 0);
    veil_buf_init(&answer, 0);
    e = veil_upstream_form_init(&form);
    if (veil_ok(e))
        e = veil_audio_wav(&r->pcm, &wav);
    if (veil_ok(e))
        e = veil_upstream_form_add(&form, "file", "audio.wav", "audio/wav", wav.data, wav.len);
    if (veil_ok(e))
        e = veil_upstream_form_add(&form, "response_format", NULL, NULL,
                                   r->fmt == FMT_VERBOSE ? "verbose_json" : "json",
                                   r->fmt == FMT_VERBOSE ? 12 : 4);
    if (veil_ok(e) && r->language && r->language[0])
        e = veil_upstream_form_add(&form, "language", NULL, NULL, r->language, strlen(r->language));
    if (veil_ok(e))
        e = veil_upstream_form_finish(&form);
    if (!veil_ok(e)) {
        res = reply_failure(w, e, NULL);
        goto out;
    }
    upstream_init(app, r->m, r->m->url, &up);
    e = veil_upstream_fetch(&up, form.content_type, form.body.data, form.body.len, &status, &answer,
                            &o);
    if (!veil_ok(e) || status != 200) {
        res = reply_upstream(w, veil_ok(e) ? VEIL_UPSTREAM_FAILED : o);
        goto out;
    }
    if (r->fmt == FMT_VERBOSE) {
        res = reply(w, 200, CT_JSON, NULL, answer.data, answer.len);
        goto out;
    }
    j = json_loadb((const char *)answer.data, answer.len, 0, NULL);
    json_t *text = json_object_get(j, "text");
    if (!json_is_string(text)) {
        res = reply_upstream(w, VEIL_UPSTREAM_FAILED);
        goto out;
    }
    const char *s = json_string_value(text);
    size_t n = json_string_length(text);
    while (n && (s[0] == ' ' || s[0] == '\n')) { /* whisper.cpp leads with a space */
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        n--;
    res = reply_transcript(w, r->fmt, s, n, NULL);
out:
    json_decref(j);
    veil_upstream_form_free(&form);
    veil_buf_free(&wav);
    veil_buf_free(&answer);
    return res;
}

/* An OpenAI-compatible upstream gets the original form (the original file,
 * every field but model) with its own model name, and answers directly. */
static veil_result transcribe_openai(veil_app *app, stt_request *r, const veil_app_writer *w)
{
    veil_result res = VEIL_OK, e;
    veil_upstream_form form;
    veil_upstream up;
    veil_upstream_outcome o = VEIL_UPSTREAM_FAILED;
    char *url = NULL;
    e = veil_upstream_form_init(&form);
    for (size_t i = 0; veil_ok(e) && i < veil_multipart_count(r->form); i++) {
        const veil_multipart_part *p = veil_multipart_get(r->form, i);
        if (strcmp(p->name, "model") != 0)
            e = veil_upstream_form_add(&form, p->name, p->filename, p->content_type, p->data,
                                       p->len);
    }
    if (veil_ok(e))
        e = veil_upstream_form_add(&form, "model", NULL, NULL, r->m->upstream_model,
                                   strlen(r->m->upstream_model));
    if (veil_ok(e))
        e = veil_upstream_form_finish(&form);
    if (veil_ok(e))
        e = join_url(r->m, "/audio/transcriptions", &url);
    if (!veil_ok(e)) {
        res = reply_failure(w, e, NULL);
        goto out;
    }
    upstream_init(app, r->m, url, &up);
    res = veil_upstream_relay(&up, form.content_type, form.body.data, form.body.len, w, &o);
    if (o == VEIL_UPSTREAM_DONE)
        res = w->end(w->arg);
    else if (o != VEIL_UPSTREAM_BROKEN && o != VEIL_UPSTREAM_WRITER)
        res = reply_upstream(w, o);
out:
    free_str(url);
    veil_upstream_form_free(&form);
    return res;
}

/* Form fields into r; on a client error, the reason and field. */
static veil_result stt_fields(veil_app *app, stt_request *r, const char **param, unsigned *status,
                              const char **code)
{
    *status = 400;
    *code = "invalid_request";
    *param = "file";
    r->file = veil_multipart_find(r->form, "file");
    VEIL_ENSURE(r->file, VEIL_E_PROTOCOL, "The form has no 'file' field.");
    *param = "model";
    VEIL_GUARD(form_text(r->form, "model", &r->model));
    r->m = stt_model(app, r->model && r->model[0] ? r->model : NULL);
    if (!r->m) {
        *status = 404;
        *code = "model_not_found";
        return VEIL_ERR(VEIL_E_PROTOCOL, r->model && r->model[0]
                                             ? "The model does not exist."
                                             : "The form names no model and there is no "
                                               "default transcription model.");
    }
    *param = "response_format";
    VEIL_GUARD(form_text(r->form, "response_format", &r->format));
    if (!r->format || !r->format[0] || strcmp(r->format, "json") == 0)
        r->fmt = FMT_JSON;
    else if (strcmp(r->format, "text") == 0)
        r->fmt = FMT_TEXT;
    else if (strcmp(r->format, "verbose_json") == 0)
        r->fmt = FMT_VERBOSE;
    else if (r->m->backend != VEIL_APP_BACKEND_OPENAI)
        return VEIL_ERR(VEIL_E_PROTOCOL,
                        "response_format must be json, text or verbose_json for this model.");
    *param = "language";
    VEIL_GUARD(form_text(r->form, "language", &r->language));
    VEIL_ENSURE(r->m->backend != VEIL_APP_BACKEND_POCKETSPHINX || is_english(r->language),
                VEIL_E_PROTOCOL, "This model transcribes English only (language \"en\").");
    return VEIL_OK;
}

static veil_result route_transcriptions(veil_app *app, const veil_bhttp_msg *rq,
                                        const veil_app_writer *w)
{
    veil_result res = VEIL_OK, e;
    stt_request r;
    memset(&r, 0, sizeof r);
    size_t len = 0;
    const uint8_t *body = veil_bhttp_content(rq, &len);
    const char *ctype = header(rq, "content-type");
    if (len > app->max_body) {
        res = reply_error(w, 413, "request_too_large", NULL,
                          "The request body is larger than this server accepts.");
        goto out;
    }
    if (!ctype || !veil_http_content_type_is(ctype, "multipart/form-data")) {
        res = reply_error(w, 415, "unsupported_media_type", NULL,
                          "Transcription requests must be multipart/form-data.");
        goto out;
    }
    veil_multipart_limits lim = {0};
    e = veil_multipart_parse(ctype, body, len, &lim, &r.form);
    if (!veil_ok(e)) {
        res = e.cls == VEIL_E_NOMEM ? reply_error(w, 413, "request_too_large", NULL, e.msg)
                                    : reply_error(w, 400, "invalid_multipart", NULL, e.msg);
        goto out;
    }
    const char *param = NULL, *code = NULL;
    unsigned status = 400;
    e = stt_fields(app, &r, &param, &status, &code);
    if (!veil_ok(e)) {
        res = e.cls == VEIL_E_NOMEM ? reply_failure(w, e, param)
                                    : reply_error(w, status, code, param, e.msg);
        goto out;
    }
    if (r.m->external) { /* audio cannot be sanitized: it does not leave */
        res = app_sanitize_refuse(w, true);
        goto out;
    }
    /* Every backend gets audio that decodes, within the duration limit. */
    e = veil_audio_decode(r.file->data, r.file->len, app->max_audio_seconds, &r.pcm);
    if (!veil_ok(e)) {
        res = e.cls == VEIL_E_UNSUPPORTED ? reply_error(w, 415, "unsupported_audio", "file", e.msg)
              : e.cls == VEIL_E_NOMEM     ? reply_error(w, 413, "audio_too_long", "file", e.msg)
              : e.cls == VEIL_E_PROTOCOL  ? reply_error(w, 400, "invalid_audio", "file", e.msg)
                                          : reply_failure(w, e, "file");
        goto out;
    }
    switch (r.m->backend) {
    case VEIL_APP_BACKEND_POCKETSPHINX: res = transcribe_embedded(app, &r, w); break;
    case VEIL_APP_BACKEND_WHISPER_CPP: res = transcribe_whisper(app, &r, w); break;
    default: res = transcribe_openai(app, &r, w); break;
    }
out:
    stt_request_free(&r);
    return res;
}

/* ---- POST /v1/chat/completions ---- */

/* A chat request's body: a JSON object with a model this table serves by
 * chat, a non-empty messages array and a boolean stream. NULL with *why set
 * (status, code, param, message) when it is not. */
typedef struct why {
    unsigned status;
    const char *code, *param, *msg;
} why;

static const model *chat_check(const veil_app *app, json_t *j, why *y)
{
    json_t *jm = json_object_get(j, "model"), *msgs = json_object_get(j, "messages");
    json_t *stream = json_object_get(j, "stream");
    *y = (why){400, "invalid_request", NULL, NULL};
    if (!json_is_object(j)) {
        *y = (why){400, "invalid_json", NULL, "The request body is not a JSON object."};
        return NULL;
    }
    if (!json_is_string(jm)) {
        *y = (why){400, "invalid_request", "model", "'model' must be a string."};
        return NULL;
    }
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        *y = (why){400, "invalid_request", "messages", "'messages' must be a non-empty array."};
        return NULL;
    }
    if (stream && !json_is_boolean(stream) && !json_is_null(stream)) {
        *y = (why){400, "invalid_request", "stream", "'stream' must be a boolean."};
        return NULL;
    }
    const model *m = find_model(app, json_string_value(jm));
    if (!m)
        *y = (why){404, "model_not_found", "model", "The model does not exist."};
    else if (m->backend != VEIL_APP_BACKEND_OPENAI)
        *y = (why){400, "model_not_supported", "model",
                   "This is a speech-to-text model, not a chat model."};
    return m && m->backend == VEIL_APP_BACKEND_OPENAI ? m : NULL;
}

/* The body with "model" set to the upstream's name, into out. */
static veil_result chat_rename(json_t *j, const model *m, veil_buf *out)
{
    size_t n;
    VEIL_ENSURE(json_object_set_new(j, "model", json_string(m->upstream_model)) == 0 &&
                    (n = json_dumpb(j, NULL, 0, JSON_COMPACT)) > 0,
                VEIL_E_NOMEM, "app: out of memory");
    VEIL_GUARD(veil_buf_zeros(out, n));
    VEIL_ENSURE(json_dumpb(j, (char *)out->data, n, JSON_COMPACT) == n, VEIL_E_INTERNAL,
                "app: cannot serialise the request");
    return VEIL_OK;
}

static veil_result route_chat(veil_app *app, const veil_bhttp_msg *rq, const veil_app_writer *w)
{
    veil_result res = VEIL_OK, e = VEIL_OK;
    json_t *j = NULL;
    char *url = NULL;
    veil_buf renamed;
    veil_buf_init(&renamed, 0);
    app_sanitizer san;
    memset(&san, 0, sizeof san);
    const veil_app_writer *uw = w; /* the upstream's answer goes here */
    size_t len = 0;
    const uint8_t *body = veil_bhttp_content(rq, &len);
    const char *ctype = header(rq, "content-type");
    if (len > app->max_body) {
        res = reply_error(w, 413, "request_too_large", NULL,
                          "The request body is larger than this server accepts.");
        goto out;
    }
    if (ctype && !veil_http_content_type_is(ctype, CT_JSON)) {
        res = reply_error(w, 415, "unsupported_media_type", NULL,
                          "Chat completion requests must be application/json.");
        goto out;
    }
    /* jansson's error text can quote the input: only static messages go back. */
    j = len ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    why y;
    const model *m = chat_check(app, j, &y);
    if (!m) {
        res = reply_error(w, y.status, y.code, y.param, y.msg);
        goto out;
    }
    bool augmented = false; /* "veil_rag": passages retrieved here, added as a message */
    app_rag_refusal rr = {0};
    e = app_rag_augment_chat(app->rag, app->n_rag, m->external, j, &augmented, &rr);
    if (veil_ok(e) && rr.status) {
        res = reply_error(w, rr.status, rr.code, rr.param, rr.msg);
        goto out;
    }
    bool blocked = false;
    if (veil_ok(e) && m->external) { /* sanitize before any byte leaves; restore in the answer */
        e = app_sanitize_chat(app->sanitize, j, w, &san, &blocked);
        if (veil_ok(e) && blocked) {
            res = app_sanitize_refuse(w, false);
            goto out;
        }
        uw = &san.w;
    }
    if (veil_ok(e) && (m->external || augmented || strcmp(m->upstream_model, m->name) != 0)) {
        e = chat_rename(j, m, &renamed);
        body = renamed.data;
        len = renamed.len;
    }
    if (veil_ok(e))
        e = join_url(m, "/chat/completions", &url);
    if (!veil_ok(e)) {
        res = reply_failure(w, e, NULL);
        goto out;
    }
    veil_upstream up;
    veil_upstream_outcome o = VEIL_UPSTREAM_FAILED;
    upstream_init(app, m, url, &up);
    res = veil_upstream_relay(&up, CT_JSON, body, len, uw, &o);
    if (o == VEIL_UPSTREAM_DONE)
        res = uw->end(uw->arg);
    else if (o != VEIL_UPSTREAM_BROKEN && o != VEIL_UPSTREAM_WRITER)
        res = reply_upstream(w, o);
out:
    free_str(url);
    json_decref(j);
    veil_buf_free(&renamed);
    app_sanitizer_free(&san);
    return res;
}

/* ---- GET /v1/models ---- */

static json_t *model_json(const char *id)
{
    return json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model", "created", 0, "owned_by",
                     "veil");
}

static veil_result route_models(veil_app *app, const char *id, const veil_app_writer *w)
{
    bool alias = app->default_stt && !find_model(app, VEIL_APP_WHISPER_ALIAS);
    if (id) {
        if (find_model(app, id) || (alias && strcmp(id, VEIL_APP_WHISPER_ALIAS) == 0))
            return reply_json(w, 200, model_json(id));
        return reply_error(w, 404, "model_not_found", "model", "The model does not exist.");
    }
    json_t *data = json_array();
    for (size_t i = 0; data && i < app->n_models; i++)
        if (json_array_append_new(data, model_json(app->models[i].name)) != 0) {
            json_decref(data);
            data = NULL;
        }
    if (data && alias && json_array_append_new(data, model_json(VEIL_APP_WHISPER_ALIAS)) != 0) {
        json_decref(data);
        data = NULL;
    }
    return reply_json(w, 200, data ? json_pack("{s:s,s:o}", "object", "list", "data", data) : NULL);
}

/* ---- routing ---- */

static bool path_is(const char *path, size_t n, const char *want)
{
    return veil_public_equal(path, n, want, strlen(want));
}

veil_result veil_app_handle(veil_app *app, const veil_bhttp_msg *rq, const veil_app_writer *w)
{
    VEIL_ENSURE(app && rq && w && w->head && w->body && w->end, VEIL_E_USAGE,
                "app: missing app, request or writer");
    VEIL_ENSURE(veil_bhttp_is_request(rq), VEIL_E_USAGE, "app: the message is not a request");
    const char *method = veil_bhttp_method(rq);
    const char *path = veil_bhttp_path(rq);
    size_t n = strcspn(path, "?#");
    const char *allow = NULL;
    static const char models_prefix[] = "/v1/models/";

    if (path_is(path, n, "/v1/audio/transcriptions")) {
        if (strcmp(method, "POST") == 0)
            return route_transcriptions(app, rq, w);
        allow = "POST";
    } else if (path_is(path, n, "/v1/chat/completions")) {
        if (strcmp(method, "POST") == 0)
            return route_chat(app, rq, w);
        allow = "POST";
    } else if (path_is(path, n, "/v1/rag/search")) {
        if (strcmp(method, "POST") == 0)
            return app_rag_search(app->rag, app->n_rag, rq, app->max_body, w);
        allow = "POST";
    } else if (path_is(path, n, "/v1/models") ||
               (n > sizeof models_prefix - 1 &&
                strncmp(path, models_prefix, sizeof models_prefix - 1) == 0)) {
        if (strcmp(method, "GET") != 0) {
            allow = "GET";
        } else {
            char id[256];
            bool one = n > sizeof models_prefix - 1;
            size_t idn = one ? n - (sizeof models_prefix - 1) : 0;
            if (idn >= sizeof id || (one && memchr(path + sizeof models_prefix - 1, '/', idn)))
                return reply_error(w, 404, "model_not_found", "model", "The model does not exist.");
            memcpy(id, path + sizeof models_prefix - 1, idn);
            id[idn] = '\0';
            return route_models(app, one ? id : NULL, w);
        }
    } else {
        return reply_error(w, 404, "unknown_url", NULL,
                           "Unknown endpoint: this server offers POST /v1/audio/transcriptions, "
                           "POST /v1/chat/completions and GET /v1/models.");
    }
    veil_app_header h = {"allow", allow};
    return reply_error_h(w, 405, "method_not_allowed", NULL,
                         "This endpoint does not accept that method.", &h);
}
