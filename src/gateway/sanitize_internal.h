/* Sanitization of chat requests to external upstreams (docs/sanitize.md):
 * the request's message texts are sanitized before a byte leaves the TEE,
 * and the answer passes through a writer that restores the placeholders,
 * whole JSON bodies at the end and server-sent events one by one (with a
 * placeholder split across events held back until it is whole). */
#ifndef VEIL_GATEWAY_SANITIZE_INTERNAL_H
#define VEIL_GATEWAY_SANITIZE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "veil/app.h"
#include "veil/cursor.h"
#include "veil/sanitize.h"

#define APP_SAN_MAX_CHOICES 16

typedef struct app_sanitizer {
    veil_sanitize_session *session;
    const veil_app_writer *inner;
    veil_app_writer w; /* hand this one to the upstream relay */
    bool sse;
    veil_buf body; /* a JSON (non-SSE) answer, restored at end */
    veil_sanitize_restorer *choice[APP_SAN_MAX_CHOICES];
} app_sanitizer;

/* Sanitize the chat request j (a checked chat body) in place: every string
 * in the messages but roles, types and ids, and the top-level "user".
 * *blocked when the policy refuses the request (nothing may be sent); an
 * error only for memory or encoding failures. On success s->w wraps w. */
VEIL_MUST_USE veil_result app_sanitize_chat(const veil_sanitize_policy *p, json_t *j,
                                            const veil_app_writer *w, app_sanitizer *s,
                                            bool *blocked);
void app_sanitizer_free(app_sanitizer *s);

/* 403 application/problem+json: the policy blocks the request, or (audio)
 * the request cannot be sanitized. */
VEIL_MUST_USE veil_result app_sanitize_refuse(const veil_app_writer *w, bool audio);

#endif
