/* veil — the gateway's inner application: an OpenAI-compatible inference
 * server that answers one decrypted Binary HTTP request at a time, whatever
 * transport carried it (OHTTP, chunked OHTTP, plain HTTP in tests).
 *
 * Routes (paths may carry a query, which is ignored):
 *   POST /v1/audio/transcriptions   multipart/form-data (RFC 7578): file,
 *        model, language, response_format = json (default, {"text"}) | text |
 *        verbose_json ({"task","language","duration","text","segments",
 *        "words"}); other fields (prompt, temperature...) are accepted and
 *        ignored by the embedded engine, forwarded to OpenAI-style upstreams.
 *   POST /v1/chat/completions       JSON, forwarded to the model's upstream;
 *        with "stream": true the response is text/event-stream and every
 *        server-sent event reaches the writer as soon as the upstream sends it.
 *   GET  /v1/models                 the model table.
 * Errors are OpenAI-style JSON bodies, {"error": {"message", "type", "param",
 * "code"}}, with the status saying what went wrong: 400 malformed multipart,
 * JSON or field; 404 unknown route or model; 405 wrong method; 413 body or
 * audio too large or too long; 415 unsupported request or audio format; 502
 * upstream unreachable or failing; 503 every speech decoder busy; 504
 * upstream timeout.
 *
 * Privacy: request and response content is user data. Every copy the app
 * makes is wiped when freed (decoded audio, forms, transcripts, JSON: see
 * veil_app_new), nothing is logged, error messages never quote content, and
 * the embedded decoder is reset before each request, so no state derived from
 * one user's audio influences the next. */
#ifndef VEIL_APP_H
#define VEIL_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/bhttp.h"
#include "veil/result.h"
#include "veil/sanitize.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The embedded model's name and the OpenAI model name unmodified SDKs send. */
#define VEIL_APP_STT_MODEL "pocketsphinx-en-us"
#define VEIL_APP_WHISPER_ALIAS "whisper-1"

/* Debian's pocketsphinx-en-us package. */
#define VEIL_APP_PS_HMM "/usr/share/pocketsphinx/model/en-us/en-us"
#define VEIL_APP_PS_LM "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"
#define VEIL_APP_PS_DICT "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"

#define VEIL_APP_DEFAULT_MAX_BODY ((size_t)25 << 20) /* OpenAI's audio upload limit */
#define VEIL_APP_DEFAULT_MAX_AUDIO_SECONDS 300u
#define VEIL_APP_DEFAULT_MAX_UPSTREAM_RESPONSE ((size_t)16 << 20)

typedef enum veil_app_backend {
    VEIL_APP_BACKEND_POCKETSPHINX = 1, /* embedded speech-to-text (transcription) */
    VEIL_APP_BACKEND_OPENAI = 2,       /* OpenAI-compatible upstream: vLLM, llama.cpp
                                          server... (chat and transcription) */
    VEIL_APP_BACKEND_WHISPER_CPP = 3,  /* whisper.cpp server's /inference (transcription) */
    /* An OpenAI-compatible provider OUTSIDE the TEE: url may be https:// to
     * any host. Needs the config's sanitize_policy, which every chat request
     * to it passes through before a byte leaves (placeholders are restored
     * in the answer); transcriptions are refused (audio cannot be checked).
     * docs/sanitize.md. */
    VEIL_APP_BACKEND_OPENAI_EXTERNAL = 4,
} veil_app_backend;

/* One entry of the model table. The strings are copied by veil_app_new. */
typedef struct veil_app_model {
    const char *name; /* what clients put in "model" */
    veil_app_backend backend;
    /* OPENAI: the API base, "/v1" included ("http://127.0.0.1:8080/v1"), to
     * which "/chat/completions" or "/audio/transcriptions" is appended.
     * WHISPER_CPP: the full inference URL ("http://127.0.0.1:8081/inference").
     * POCKETSPHINX: NULL. Upstreams run inside the same TEE, on loopback. */
    const char *url;
    const char *upstream_model; /* OPENAI: "model" sent upstream; NULL = name */
    const char *api_key;        /* OPENAI: sent as "Authorization: Bearer"; NULL = none */
} veil_app_model;

/* An encrypted RAG collection the app serves (docs/rag.md): a store opened
 * with the collection key the KMS released to this TEE. Borrowed. */
struct veil_rag_store;
typedef struct veil_app_rag {
    const char *name;
    const struct veil_rag_store *store;
} veil_app_rag;

typedef struct veil_app_config {
    /* The model table; NULL/0 = just the embedded VEIL_APP_STT_MODEL. */
    const veil_app_model *models;
    size_t n_models;
    /* Used when a transcription names no model, and for VEIL_APP_WHISPER_ALIAS
     * unless the table has that name itself. NULL = VEIL_APP_STT_MODEL. */
    const char *default_transcription_model;

    size_t max_body;            /* request content limit; 0 = VEIL_APP_DEFAULT_MAX_BODY */
    unsigned max_audio_seconds; /* decoded audio limit; 0 = VEIL_APP_DEFAULT_MAX_AUDIO_SECONDS */

    /* Embedded pocketsphinx, loaded once here if some model uses it. NULL
     * paths = Debian's en-us model (VEIL_APP_PS_*). */
    const char *ps_hmm, *ps_lm, *ps_dict;
    unsigned stt_decoders; /* decoders loaded (concurrent transcriptions); 0 = 1 */
    unsigned stt_wait_ms;  /* how long a request waits for a free decoder; 0 = 30 000 */

    /* Upstream calls (http.h client). */
    unsigned upstream_connect_timeout_ms; /* 0 = 5 000 */
    unsigned upstream_timeout_ms;         /* whole exchange; 0 = 300 000 */
    size_t max_upstream_response;         /* 0 = VEIL_APP_DEFAULT_MAX_UPSTREAM_RESPONSE */

    /* Applied to requests to external models (borrowed: must outlive the app). */
    const veil_sanitize_policy *sanitize_policy;

    /* Encrypted RAG collections: POST /v1/rag/search, and "veil_rag" in chat
     * requests (docs/rag.md). Borrowed: must outlive the app. */
    const veil_app_rag *rag;
    size_t n_rag;
} veil_app_config;

typedef struct veil_app veil_app;

/* Validate the configuration, copy it and load the embedded engine (seconds:
 * the en-us language model is large). Process-wide side effects, once:
 * pocketsphinx's logging is switched off (it would log transcripts), and
 * jansson is set to wipe every block it frees (its parsed strings hold
 * prompts). Errors name the bad model entry or the file that failed to load. */
VEIL_MUST_USE veil_result veil_app_new(const veil_app_config *cfg, veil_app **out);
/* Free the app and its decoders. No request may be in flight. NULL is a no-op. */
void veil_app_free(veil_app *app);

typedef struct veil_app_header {
    const char *name; /* lowercase */
    const char *value;
} veil_app_header;

/* Where a response goes. For one request the app calls head once, then body
 * any number of times (streamed responses: each piece as soon as it exists,
 * one server-sent event per call), then end once. A callback that fails
 * makes the app stop at once and return that failure (end is not called);
 * the transport then abandons the response. All calls happen on the thread
 * that called veil_app_handle. */
typedef struct veil_app_writer {
    veil_result (*head)(void *arg, unsigned status, const veil_app_header *headers, size_t n);
    veil_result (*body)(void *arg, const uint8_t *p, size_t n);
    veil_result (*end)(void *arg);
    void *arg;
} veil_app_writer;

/* Answer one request. Every problem with the request, its audio or an
 * upstream that has not yet answered is itself answered (an error status
 * and JSON body through the writer) and the call returns VEIL_OK after end.
 * A failure is returned only when the writer failed, or when a streamed
 * response broke after its head was written (the upstream died or timed
 * out mid-stream): the transport must then abort the response, not end it,
 * so the client cannot mistake a truncated answer for a whole one. Safe to
 * call from many threads at once. */
VEIL_MUST_USE veil_result veil_app_handle(veil_app *app, const veil_bhttp_msg *request,
                                          const veil_app_writer *w);

#ifdef __cplusplus
}
#endif
#endif
