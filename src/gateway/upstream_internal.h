/* Upstream inference servers inside the same TEE (llama.cpp / vLLM / any
 * OpenAI-compatible server, whisper.cpp's server), reached on loopback
 * through the http.h client. */
#ifndef VEIL_GATEWAY_UPSTREAM_INTERNAL_H
#define VEIL_GATEWAY_UPSTREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/app.h"
#include "veil/cursor.h"
#include "veil/result.h"

typedef struct veil_upstream {
    const char *url;     /* the full URL to POST to */
    const char *api_key; /* "Authorization: Bearer ..." when not NULL */
    unsigned connect_timeout_ms, timeout_ms;
    size_t max_response;
} veil_upstream;

/* What happened, so the app knows whether it can still answer. */
typedef enum veil_upstream_outcome {
    VEIL_UPSTREAM_DONE = 0,    /* head and whole body written (end is the caller's) */
    VEIL_UPSTREAM_UNREACHABLE, /* nothing written: no connection (502) */
    VEIL_UPSTREAM_TIMEOUT,     /* nothing written: no answer in time (504) */
    VEIL_UPSTREAM_FAILED,      /* nothing written: 5xx, malformed or too large (502) */
    VEIL_UPSTREAM_BROKEN,      /* head written, then the exchange broke */
    VEIL_UPSTREAM_WRITER,      /* the writer failed; its result is returned */
} veil_upstream_outcome;

/* POST body and relay the answer to w as it arrives: a status below 500
 * with its Content-Type and body. A text/event-stream body is re-framed so
 * that each body() call carries exactly one whole server-sent event, sent
 * the moment its blank line arrives. Returns VEIL_OK only for DONE. */
VEIL_MUST_USE veil_result veil_upstream_relay(const veil_upstream *up, const char *content_type,
                                              const void *body, size_t len,
                                              const veil_app_writer *w,
                                              veil_upstream_outcome *outcome);

/* POST body and buffer the answer (a status below 500) into resp. Returns
 * VEIL_OK only for DONE (nothing is written anywhere). */
VEIL_MUST_USE veil_result veil_upstream_fetch(const veil_upstream *up, const char *content_type,
                                              const void *body, size_t len, long *status,
                                              veil_buf *resp, veil_upstream_outcome *outcome);

/* A multipart/form-data body to send upstream, with a random boundary. */
typedef struct veil_upstream_form {
    veil_buf body;
    char content_type[96]; /* "multipart/form-data; boundary=..." */
    char boundary[48];
} veil_upstream_form;

VEIL_MUST_USE veil_result veil_upstream_form_init(veil_upstream_form *f);
/* One part; filename and ctype may be NULL. Quotes, CR and LF in name and
 * filename are percent-encoded as browsers do (WHATWG). */
VEIL_MUST_USE veil_result veil_upstream_form_add(veil_upstream_form *f, const char *name,
                                                 const char *filename, const char *ctype,
                                                 const void *p, size_t n);
VEIL_MUST_USE veil_result veil_upstream_form_finish(veil_upstream_form *f);
void veil_upstream_form_free(veil_upstream_form *f);

#endif
